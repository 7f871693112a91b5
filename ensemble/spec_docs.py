"""The spec schema rendered for people and for editors: the tables of ``docs/spec.md`` and a JSON
Schema (draft 2020-12) of a sweep file.

Both are built from the declarations in :mod:`mesosweep.ensemble.schema` plus what the named
validators of :mod:`mesosweep.ensemble.spec` allow, so they cannot drift from what the reader
accepts. ``mesosweep spec docs`` rewrites the tables between their markers in ``docs/spec.md``
(the prose around them is left alone); ``mesosweep spec schema`` prints the JSON Schema.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

from mesosweep.ensemble.schema import SCHEMA_VERSION, FieldInfo, Spec, fields_of, is_section
from mesosweep.ensemble.spec import alternatives, bounds_text, rule_texts, show, toml_kind

__all__ = ["json_schema", "markdown_tables", "render_tables", "TOP_LEVEL"]

TOP_LEVEL = "top-level"  # the name of the table of the file's top-level keys and sections
_MARKED = re.compile(r"(<!-- generated table: ([\w-]+) -->\n).*?(<!-- end of generated table -->)",
                     re.DOTALL)
_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", Path: "string"}


def _tables() -> dict[str, tuple[type, tuple[FieldInfo, ...]]]:
    """Each table of the file by name: the top level, then every section, in file order."""
    out: dict[str, tuple[type, tuple[FieldInfo, ...]]] = {TOP_LEVEL: (Spec, fields_of(Spec))}
    for info in fields_of(Spec):
        kind, _ = toml_kind(info.type)
        if kind == "table":
            out[info.name] = (info.type, fields_of(info.type))
        elif kind == "tables":
            item = typing.get_args(info.type)[0]
            out[info.name] = (item, fields_of(item))
    return out


# --------------------------------------------------------------------------------------------
# Markdown


def _type_text(tp: Any) -> str:
    alts = alternatives(tp)
    if len(alts) > 1:
        return " or ".join(_type_text(a) for a in alts)
    (tp,) = alts
    if tp is Path:
        return "string (path)"
    if tp in _JSON_TYPES:
        return _JSON_TYPES[tp]
    if is_section(tp):
        return "table"
    args = typing.get_args(tp)
    item = args[0]
    if typing.get_origin(item) is tuple:  # rows such as [diameter_um, number_fraction]
        items = "`[" + ", ".join(_type_text(a) for a in typing.get_args(item)) + "]`"
    else:
        items = _type_text(item) + "s"
    if len(args) == 2 and args[1] is Ellipsis:
        return f"array of {items}"
    return f"array of {len(args)} {items}"


def _allowed_text(cls: type, info: FieldInfo) -> str:
    kind, length = toml_kind(info.type)
    parts = []
    if info.choices:
        parts.append(", ".join(f"`{c}`" for c in info.choices))
    if kind == "boolean":
        parts.append("`true`, `false`")
    if (info.gt, info.ge, info.lt, info.le) != (None,) * 4:
        bounds = bounds_text(info).removeprefix("in ").replace(">=", "≥").replace("<=", "≤")
        # The reason for a bound is part of it: what the model can represent.
        why = f" ({info.why})" if info.why else ""
        parts.append(("each " if kind == "numbers" else "") + bounds + why)
    if (kind == "numbers" and length is None) or kind == "tables":
        parts.append("at least one")
    if info.unique:
        parts.append("no repeats")
    if info.rule:
        parts.append(info.rule)
    parts.extend(rule_texts(cls, info.name))
    return "; ".join(parts) or "–"


def _default_text(info: FieldInfo) -> str:
    if info.required:
        return "**required**"
    if is_section(type(info.default)):
        return "all defaults"
    if info.default is None:
        return f"none: {info.unset}" if info.unset else "none"
    return f"`{show(info.default)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown_table(cls: type, infos: tuple[FieldInfo, ...]) -> str:
    lines = ["| key | type | unit | default | allowed | meaning |",
             "| --- | --- | --- | --- | --- | --- |"]
    for info in infos:
        kind, _ = toml_kind(info.type)
        key = {"table": f"[{info.name}]", "tables": f"[[{info.name}]]"}.get(kind, info.name)
        type_text = "array of tables" if kind == "tables" else _type_text(info.type)
        cells = [f"`{key}`", type_text, info.unit or "–", _default_text(info),
                 _allowed_text(cls, info), info.doc]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def markdown_tables() -> dict[str, str]:
    """The Markdown table of each table of the file, by name (``top-level``, ``sweep``, ...)."""
    return {name: _markdown_table(cls, infos) for name, (cls, infos) in _tables().items()}


def render_tables(markdown: str) -> str:
    """``markdown`` with the text between each ``<!-- generated table: NAME -->`` and
    ``<!-- end of generated table -->`` replaced by the table NAME; the rest is kept as is.

    Raises ValueError if a marker names no table, or a table has no markers.
    """
    tables = markdown_tables()
    seen: list[str] = []

    def fill(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in tables:
            raise ValueError(f"generated table {name!r} is not a table of the spec; known: "
                             f"{', '.join(tables)}")
        seen.append(name)
        return m.group(1) + tables[name] + m.group(3)

    out = _MARKED.sub(fill, markdown)
    missing = [name for name in tables if name not in seen]
    if missing:
        raise ValueError(f"no markers for the generated table(s) {', '.join(missing)}; add "
                         f"'<!-- generated table: NAME -->' and '<!-- end of generated table -->'")
    return out


# --------------------------------------------------------------------------------------------
# JSON Schema


def _type_schema(tp: Any) -> dict[str, Any]:
    alts = alternatives(tp)
    if len(alts) > 1:
        return {"anyOf": [_type_schema(a) for a in alts]}
    (tp,) = alts
    if tp in _JSON_TYPES:
        return {"type": _JSON_TYPES[tp]}
    if is_section(tp):
        return _object_schema(tp)
    args = typing.get_args(tp)
    schema: dict[str, Any] = {"type": "array", "items": _type_schema(args[0])}
    if not (len(args) == 2 and args[1] is Ellipsis):
        schema["minItems"] = schema["maxItems"] = len(args)
    return schema


def _field_schema(cls: type, info: FieldInfo) -> dict[str, Any]:
    kind, length = toml_kind(info.type)
    schema = _type_schema(info.type)
    if kind == "tables":
        schema["minItems"] = 1
    if kind == "numbers" and length is None:
        schema["minItems"] = 1
    if info.unique:
        schema["uniqueItems"] = True
    # Bounds apply to a number, or to each number of an array.
    target = schema["items"] if kind == "numbers" else schema
    for bound, keyword in (("gt", "exclusiveMinimum"), ("ge", "minimum"),
                           ("lt", "exclusiveMaximum"), ("le", "maximum")):
        if getattr(info, bound) is not None:
            target[keyword] = getattr(info, bound)
    if info.choices:
        schema["enum"] = list(info.choices)
    if info.pattern:
        schema["pattern"] = f"^(?:{info.pattern})$"
    if not info.required and info.default is not None and not is_section(type(info.default)):
        schema["default"] = list(info.default) if isinstance(info.default, tuple) else info.default
    text = [info.doc[:1].upper() + info.doc[1:] + "."]
    if info.unit:
        text.append(f"Unit: {info.unit}.")
    if info.rule:
        text.append(f"Allowed: {info.rule}.")
    text.extend(f"Also: {rule}." for rule in rule_texts(cls, info.name))
    if info.unset:
        text.append(f"Left out: {info.unset}.")
    return {"description": " ".join(text), **schema}


def _object_schema(cls: type) -> dict[str, Any]:
    infos = fields_of(cls)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {info.name: _field_schema(cls, info) for info in infos},
        "additionalProperties": False,
    }
    required = [info.name for info in infos if info.required]
    if required:
        schema["required"] = required
    return schema


def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of a sweep file, for editors (Taplo, Even Better TOML).

    It holds each field's description, unit, default, allowed values and bounds. The reader
    checks more (cross-field rules, paths that must exist, integers written as 2.0): a file the
    schema accepts can still be refused by ``mesosweep run --check``, never the other way round.
    """
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"mesosweep sweep spec (schema_version {SCHEMA_VERSION})",
        "description": "A sweep of electrode-manufacturing simulations; see docs/spec.md.",
        **_object_schema(Spec),
    }
