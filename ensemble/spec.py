"""Sweep specification: reading, full validation, and the canonical form.

A sweep spec is read once, checked completely, and turned into the frozen dataclasses declared in
:mod:`mesosweep.ensemble.schema`. Every later step (plan, store, provenance, resume) works from a
:class:`Spec`, never from raw TOML, so a problem in the file is reported before any simulation
starts. ``docs/spec.md`` documents the schema; ``sweeps/quick.toml`` is the worked example.

Reading is one generic pass over the schema (every field's type, bounds, allowed values and
pattern; unknown keys; missing required fields and sections), then the named validators below
(rules that tie fields together or check more than a value), then the dataclasses are built.
Every problem is collected, one line each, naming the field, the value given and what is allowed.

Public API: :func:`load_spec`, :func:`parse_spec`, :func:`spec_to_dict`, :func:`canonical_json`,
:func:`spec_hash`, :func:`is_mesosweep_store`, :func:`resolve_forcefield`,
:func:`check_forcefields`, :class:`SpecError` and the section dataclasses.
"""

from __future__ import annotations

import codecs
import dataclasses
import difflib
import hashlib
import importlib.util
import json
import math
import os
import re
import stat
import tomllib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mesosweep.cluster.jobscript import PROLOGUE_RULE, WORD_RULE, prologue_problem, word_problem
from mesosweep.cluster.memory import too_small
from mesosweep.ensemble.schema import (
    MAX_COMPRESSION_DEGREE,
    PARTICLE_DIAMETER_UM,
    SCHEMA_VERSION,
    SEED_MAX,
    SEED_MIN,
    AnalysisSection,
    ClusterSection,
    FieldInfo,
    Formulation,
    NumericsSection,
    ParticlesSection,
    ProcessSection,
    Spec,
    StructureSection,
    SweepSection,
    field_info,
    fields_of,
    is_section,
)
from mesosweep.errors import SpecError

__all__ = [
    "SCHEMA_VERSION",
    "SEED_MIN",
    "SEED_MAX",
    "MAX_COMPRESSION_DEGREE",
    "SpecError",
    "Spec",
    "SweepSection",
    "ClusterSection",
    "ParticlesSection",
    "StructureSection",
    "Formulation",
    "ProcessSection",
    "NumericsSection",
    "AnalysisSection",
    "load_spec",
    "parse_spec",
    "spec_to_dict",
    "canonical_json",
    "spec_hash",
    "is_mesosweep_store",
    "describe_non_store",
    "resolve_forcefield",
    "check_forcefields",
]

MASS_SUM_TOLERANCE = 1e-6
NAME_MAX = 255  # bytes of one file name on every common file system
# A sweep spec is a few KiB; anything far larger is a wrong file (a volume, a log), not a spec.
MAX_SPEC_BYTES = 1024 * 1024
# The deepest a spec nests is 4 (the file, [structure], psd_table, a row); beyond 8 it is no spec,
# and nesting hundreds deep would exhaust the reader's recursion.
MAX_SPEC_NESTING = 8
_FORCEFIELD_NAME_RE = re.compile(r"[a-z0-9_-]+")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")


# --------------------------------------------------------------------------------------------
# Value display and type helpers for messages


def show(value: Any, limit: int = 80) -> str:
    """A value as the user would write it in TOML, short and on one line."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=True)
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(show(v, limit) for v in value) + "]"
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(_key(str(k)) for k in value) + "}"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."



def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return "a " + type(value).__name__


def _key(key: str) -> str:
    """A key as it appears in a field path: bare if TOML allows, quoted otherwise."""
    return key if _BARE_KEY_RE.fullmatch(key) else json.dumps(key, ensure_ascii=True)


def _is_int(value: Any) -> bool:
    # bool is a subclass of int in Python, but `true` is never a count.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def bounds_text(info: FieldInfo) -> str:
    """The bounds of a field in words: ``> 0``, ``>= 1``, ``in (0, 0.5]``, or "a finite number"."""
    gt, ge, lt, le = info.gt, info.ge, info.lt, info.le
    lo = gt if gt is not None else ge
    hi = lt if lt is not None else le
    if lo is not None and hi is not None:
        left = "(" if gt is not None else "["
        right = ")" if lt is not None else "]"
        return f"in {left}{_num(lo)}, {_num(hi)}{right}"
    if lo is not None:
        return f"{'>' if gt is not None else '>='} {_num(lo)}"
    if hi is not None:
        return f"{'<' if lt is not None else '<='} {_num(hi)}"
    return "a finite number"


def _has_bounds(info: FieldInfo) -> bool:
    return (info.gt, info.ge, info.lt, info.le) != (None,) * 4


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _in_bounds(x: float, info: FieldInfo) -> bool:
    return ((info.gt is None or x > info.gt) and (info.ge is None or x >= info.ge)
            and (info.lt is None or x < info.lt) and (info.le is None or x <= info.le))


def suggest(word: str, options: Sequence[str]) -> str | None:
    """The option closest to a misspelt ``word``, if one is close enough for "did you mean"."""
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower(), options, n=1, cutoff=0.6)
    return close[0] if close else None


def example_of(info: FieldInfo) -> str:
    """A value of the field as TOML, for "add key = ..." and "e.g." in messages."""
    if info.example:
        return info.example
    if not info.required and info.default is not None:
        return show(info.default)
    return show(info.choices[0]) if info.choices else '"x"'


# --------------------------------------------------------------------------------------------
# How the file writes each field's type


def alternatives(tp: Any) -> tuple[Any, ...]:
    """The types a field may hold besides None (one, unless it is a union such as psd_table)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return tuple(a for a in typing.get_args(tp) if a is not type(None))
    return (tp,)


def toml_kind(tp: Any) -> tuple[str, int | None]:
    """How the file writes a value of annotation ``tp``, and an array's fixed length.

    One of: ``integer``, ``number``, ``boolean``, ``string`` (a path is a string too),
    ``numbers``, ``strings``, ``table``, ``tables`` (an array of tables), or ``mixed`` (a union
    of several kinds, which the field's named validator reads).
    """
    alts = alternatives(tp)
    if len(alts) != 1:
        return "mixed", None
    (tp,) = alts
    simple = {int: "integer", float: "number", bool: "boolean", str: "string", Path: "string"}
    if tp in simple:
        return simple[tp], None
    if is_section(tp):
        return "table", None
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        item = args[0]
        length = None if len(args) == 2 and args[1] is Ellipsis else len(args)
        if item is float:
            return "numbers", length
        if item is str:
            return "strings", length
        if is_section(item):
            return "tables", None
    raise TypeError(f"no TOML form for {tp!r}; extend toml_kind")


# --------------------------------------------------------------------------------------------
# The generic reader: one pass over the schema


_BAD = object()  # marks a value that was missing or invalid (already reported)


class _Values:
    """The values read from one table, by field name; named validators read and report here.

    A value is what the file gave (as the field's type), its default, or ``_BAD`` (reported).
    Nested tables are ``_Values`` too (an array of tables, a list of them) until :func:`_build`.
    """

    def __init__(self, cls: type, path: str, problems: list[str], base_dir: Path) -> None:
        self.cls = cls
        self.path = path
        self.problems = problems
        self.base_dir = base_dir  # anchors relative input paths
        self.values: dict[str, Any] = {}

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def add(self, path: str, text: str) -> None:
        self.problems.append(f"{path}: {text}")

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def number(self, key: str) -> Any:
        """The field's value if it is a valid number (or integer), else None."""
        value = self.values[key]
        return value if _is_number(value) else None

    def string(self, key: str) -> str | None:
        value = self.values[key]
        return value if isinstance(value, str) else None

    def match(self, key: str) -> re.Match[str] | None:
        """The field's valid string matched against its declared pattern (groups for rules)."""
        value = self.string(key)
        pattern = field_info(self.cls, key).pattern
        return re.fullmatch(pattern, value) if value is not None else None

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value

    def fail(self, key: str, text: str, *, at: str | None = None) -> None:
        """Report a problem of field ``key`` (at its path unless ``at``) and mark it invalid."""
        self.add(self.at(key) if at is None else at, text)
        self.values[key] = _BAD


def _wrong_type(v: _Values, path: str, value: Any, expected: str) -> None:
    v.add(path, f"got {show(value)} ({_kind(value)}); expected {expected}")


def _read_table(cls: type, data: Mapping[str, Any], path: str, where: str, problems: list[str],
                base_dir: Path) -> _Values:
    """Read every field of table ``cls``, run its named validators, report unknown keys."""
    v = _Values(cls, path, problems, base_dir)
    for info in fields_of(cls):
        v.set(info.name, _read_field(v, info, data.get(info.name), where))
    for rule in _RULES.get(cls, ()):
        rule(v)
    _report_unknown_keys(v, data)
    return v


def _read_field(v: _Values, info: FieldInfo, value: Any, where: str) -> Any:
    kind, length = toml_kind(info.type)
    path = v.at(info.name)
    if kind == "table":
        return _read_section(v, info, value)
    if kind == "tables":
        return _read_table_array(v, info, value)
    # Absent, or JSON null from spec_to_dict: the default applies.
    if value is None:
        if not info.required:
            return info.default
        v.add(path, f"required field is missing; add {info.name} = {example_of(info)} to {where}")
        return _BAD
    if kind == "mixed":
        return value  # its named validator reads it
    if kind in ("integer", "number"):
        value = _check_number(v, path, info, value, integer=kind == "integer")
    elif kind == "boolean":
        if not isinstance(value, bool):
            _wrong_type(v, path, value, f"true or false, e.g. {info.name} = false")
            return _BAD
    elif kind == "string":
        value = _check_string(v, path, info, value)
    elif kind == "numbers":
        value = _check_numbers(v, path, info, value, length)
    else:  # strings
        value = _check_strings(v, path, info, value)
    if value is not _BAD and info.choices and value not in info.choices:
        allowed = ", ".join(show(c) for c in info.choices)
        hint = suggest(value, [str(c) for c in info.choices]) if isinstance(value, str) else None
        v.add(path, f"got {show(value)}; allowed: {allowed}"
                    + (f" ({info.why})" if info.why else "")
                    + (f'; did you mean "{hint}"?' if hint else ""))
        return _BAD
    return value


def _check_number(v: _Values, path: str, info: FieldInfo, value: Any, *, integer: bool) -> Any:
    if integer and not _is_int(value):
        bounds = " " + bounds_text(info) if _has_bounds(info) else ""
        _wrong_type(v, path, value, "an integer" + bounds)
        return _BAD
    if not integer and not _is_number(value):
        _wrong_type(v, path, value, "a number")
        return _BAD
    if not integer:
        value = float(value)  # an integer is fine where a number is expected
        if not math.isfinite(value):
            v.add(path, f"got {show(value)}; must be a finite number {bounds_text(info)}")
            return _BAD
    if not _in_bounds(value, info):
        v.add(path, f"got {show(value)}; must be {_violated(value, info)}"
                    + (f" ({info.why})" if info.why else ""))
        return _BAD
    return value


def _violated(x: float, info: FieldInfo) -> str:
    """The bound ``x`` breaks, then the whole range when there are two: ``<= 0.5, within (0,
    0.5]``; one bound alone is just ``>= 1``."""
    one_sided = (info.gt is None and info.ge is None) or (info.lt is None and info.le is None)
    if one_sided:
        return bounds_text(info)
    low = FieldInfo(doc="", gt=info.gt, ge=info.ge)
    high = FieldInfo(doc="", lt=info.lt, le=info.le)
    side = low if not _in_bounds(x, low) else high
    return f"{bounds_text(side)}, within {bounds_text(info).removeprefix('in ')}"


def _check_numbers(v: _Values, path: str, info: FieldInfo, value: Any,
                   length: int | None) -> Any:
    """An array of numbers, each checked; a tuple of floats. ``unique`` reports repeats."""
    key, example = info.name, example_of(info)
    if not isinstance(value, (list, tuple)):
        _wrong_type(v, path, value, f"an array of numbers, e.g. {example}")
        return _BAD
    if length is not None and len(value) != length:
        v.add(path, f"got {show(value)} ({len(value)} values); expected exactly {length} "
                    f"numbers, e.g. {key} = {example}")
        return _BAD
    if not value:
        v.add(path, f"got []; expected at least one number, e.g. {key} = {example}")
        return _BAD
    items = [_check_number(v, f"{path}[{i}]", info, x, integer=False)
             for i, x in enumerate(value)]
    if info.unique:
        first: dict[float, int] = {}
        for i, x in enumerate(items):
            if x is _BAD:
                continue
            if x in first:
                v.add(f"{path}[{i}]", f"got {show(x)}; duplicates {key}[{first[x]}]; each value "
                                      f"must appear once, remove the repeat")
                items[i] = _BAD
            else:
                first[x] = i
    return _BAD if any(x is _BAD for x in items) else tuple(items)


def _check_string(v: _Values, path: str, info: FieldInfo, value: Any) -> Any:
    if not isinstance(value, str):
        _wrong_type(v, path, value, f"a string, e.g. {info.name} = {example_of(info)}")
        return _BAD
    if "\x00" in value:  # no name or path holds one; the file system would refuse it
        v.add(path, f"got {show(value)}; a NUL byte (\\u0000) cannot appear in it, e.g. "
                    f"{info.name} = {example_of(info)}")
        return _BAD
    if info.pattern and not re.fullmatch(info.pattern, value):
        v.add(path, f"got {show(value)}; allowed: {info.rule}"
                    + (f" ({info.why})" if info.why else "")
                    + f", e.g. {info.name} = {example_of(info)}")
        return _BAD
    return value


def _check_strings(v: _Values, path: str, info: FieldInfo, value: Any) -> Any:
    if not isinstance(value, (list, tuple)):
        _wrong_type(v, path, value, f"an array of strings, e.g. {info.name} = {example_of(info)}")
        return _BAD
    ok = True
    for i, item in enumerate(value):
        if not isinstance(item, str):
            _wrong_type(v, f"{path}[{i}]", item, "a string")
            ok = False
    return tuple(value) if ok else _BAD


def _read_section(v: _Values, info: FieldInfo, value: Any) -> Any:
    """A sub-table; a missing optional one reads as empty so its defaults apply."""
    path = v.at(info.name)
    where = f"[{path}]"
    if value is None:
        if info.required:
            # One line for the whole section rather than one per key.
            needed = ", ".join(f"{f.name} = {example_of(f)}" for f in fields_of(info.type)
                               if f.required)
            v.add(path, f"required section is missing; add {where} with {needed}")
            return _BAD
        value = {}
    elif not isinstance(value, Mapping):
        _wrong_type(v, path, value, f"a table {where}")
        return _BAD
    return _read_table(info.type, value, path, where, v.problems, v.base_dir)


def _read_table_array(v: _Values, info: FieldInfo, value: Any) -> Any:
    """An array of tables such as [[formulations]]: at least one, each read as a table."""
    key = info.name
    item_cls = typing.get_args(info.type)[0]
    keys = ", ".join(f.name for f in fields_of(item_cls))
    required = f"add at least one [[{key}]] table with {keys}"
    if value is None:
        v.add(key, f"required; {required}")
        return _BAD
    if not isinstance(value, (list, tuple)):
        v.add(key, f"got {_kind(value)}; expected an array of tables: write [[{key}]] (double "
                   f"brackets), one table each")
        return _BAD
    if not value:
        v.add(key, f"got an empty array; {required}")
        return _BAD
    items: list[Any] = []
    for i, item in enumerate(value):
        path = f"{key}[{i}]"
        if not isinstance(item, Mapping):
            v.add(path, f"got {show(item)} ({_kind(item)}); expected a [[{key}]] table")
            items.append(_BAD)
            continue
        items.append(_read_table(item_cls, item, path, f"{path} (a [[{key}]] table)",
                                 v.problems, v.base_dir))
    return items


def _report_unknown_keys(v: _Values, data: Mapping[str, Any]) -> None:
    known = [f.name for f in fields_of(v.cls)]
    for raw in data:
        key = str(raw)
        if key in known:
            continue
        if isinstance(data[raw], Mapping):
            word = "section"
        else:
            word = "key" if v.path else "top-level key"
        hint = suggest(key, known)
        if hint:
            text = f'unknown {word}; did you mean "{hint}"? Rename or remove it'
        else:
            text = f"unknown {word}; remove it (known here: {', '.join(known)})"
        v.add(v.at(_key(key)), text)


def _build(value: Any) -> Any:
    """Turn what was read into the frozen dataclasses, or ``_BAD`` if anything was invalid."""
    if isinstance(value, _Values):
        built = {key: _build(x) for key, x in value.values.items()}
        return _BAD if any(x is _BAD for x in built.values()) else value.cls(**built)
    if isinstance(value, list):  # an array of tables
        items = [_build(x) for x in value]
        return _BAD if any(x is _BAD for x in items) else tuple(items)
    return value


# --------------------------------------------------------------------------------------------
# Named validators: rules beyond one field's own type, bounds and pattern. Each runs after every
# field of its table has been read, and may turn a value into its stored form (e.g. a path).

_Rule = Callable[[_Values], None]
_RULES: dict[type, list[_Rule]] = {}
_RULE_DOCS: list[tuple[type, str, str]] = []


def _rule(cls: type, allows: Mapping[str, str]) -> Callable[[_Rule], _Rule]:
    """Register a validator of table ``cls``. ``allows`` says in words, per field it constrains
    (a dotted path below ``cls``), what the rule allows: docs/spec.md and the JSON Schema show it.
    """
    def register(rule: _Rule) -> _Rule:
        _RULES.setdefault(cls, []).append(rule)
        _RULE_DOCS.extend((cls, path, text) for path, text in allows.items())
        return rule
    return register


def rule_texts(cls: type, name: str) -> list[str]:
    """What the named validators allow for field ``name`` of table ``cls``, in words."""
    texts = []
    for owner, path, text in _RULE_DOCS:
        *parents, last = path.split(".")
        for parent in parents:  # walk down to the table that holds the field
            tp = field_info(owner, parent).type
            owner = typing.get_args(tp)[0] if toml_kind(tp)[0] == "tables" else tp
        if (owner, last) == (cls, name):
            texts.append(text)
    return texts


# The plan, the store's arrays and the work folders hold an entry per realisation and degree.
MAX_REALISATIONS = 100_000
MAX_STORE_CELLS = 1_000_000


@_rule(Spec, {"sweep.realisations": f"times the formulations at most {MAX_REALISATIONS:,}, and "
                                    f"times the compression degrees too at most "
                                    f"{MAX_STORE_CELLS:,}"})
def _plan_is_bounded(v: _Values) -> None:
    sweep, process, formulations = v["sweep"], v["process"], v["formulations"]
    if not (isinstance(sweep, _Values) and isinstance(process, _Values)
            and isinstance(formulations, list) and _is_int(sweep["realisations"])):
        return
    realisations = sweep["realisations"] * len(formulations)
    degrees = process["compression_degrees"]
    cells = realisations * (len(degrees) + 1) if isinstance(degrees, tuple) else 0
    if realisations > MAX_REALISATIONS or cells > MAX_STORE_CELLS:
        sweep.fail("realisations", f"got {sweep['realisations']}; with {len(formulations)} "
                                   f"formulation(s) and {len(degrees) if cells else '?'} "
                                   f"compression degree(s) the plan holds {realisations:,} "
                                   f"realisations and {cells:,} results per metric, beyond "
                                   f"{MAX_REALISATIONS:,} and {MAX_STORE_CELLS:,}; split the "
                                   f"sweep into several")


@_rule(Spec, {"formulations.name": "unique, ignoring case"})
def _formulation_names_differ(v: _Values) -> None:
    items = v["formulations"]
    if not isinstance(items, list):
        return
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        name = item.string("name") if isinstance(item, _Values) else None
        if name is None:
            continue
        # Names become directory names: compare as a case-insensitive file system would.
        folded = name.casefold()
        if folded in seen:
            item.fail("name", f"got {show(name)}; duplicates formulations[{seen[folded]}].name "
                              f"(names must differ, ignoring case); rename one")
        else:
            seen[folded] = i


@_rule(SweepSection, {"output": "a new path in a folder that can be written, or an existing "
                                 "mesosweep store; its work folder `<name>.work` beside it is a "
                                 "folder or absent"})
def _output_is_new_or_a_store(v: _Values) -> None:
    value = v.string("output")
    if value is None:
        return
    if not value.strip():
        v.fail("output", 'got ""; expected the path of the results store, '
                         'e.g. output = "my-sweep.zarr"')
        return
    # The quick start runs from anywhere: results land where the user is, not beside the spec.
    path = _absolute(value, Path.cwd())
    too_long = next((part for part in path.parts if len(os.fsencode(part)) > NAME_MAX), None)
    if too_long is not None:
        problem = (f"the name {show(too_long, 40)} is longer than the {NAME_MAX} bytes a file "
                   f"name may have")
    elif path.exists() or path.is_symlink():
        problem = describe_non_store(path)
        if problem is None and not os.access(path, os.W_OK | os.X_OK):
            problem = (f"{show(str(path))} is a mesosweep store this user cannot write "
                       f"(read-only, or not yours)")
    else:
        problem = _cannot_create(path)
    if problem is None:
        # Lazy: the layout names the work folder; validating needs it only here.
        from mesosweep.ensemble.layout import SweepLayout  # noqa: PLC0415

        work = SweepLayout(path).workdir
        if (work.exists() or work.is_symlink()) and not work.is_dir():
            problem = (f"its work folder {show(str(work))} exists and is not a folder; move that "
                       f"file away or choose another output")
    if problem is not None:
        v.fail("output", f"got {show(value)}; {problem}")
        return
    v.set("output", path)


# Kernel file systems: paths there exist, but nothing can be stored in them.
_VIRTUAL_FILE_SYSTEMS = frozenset({
    "proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "configfs",
    "pstore", "bpf", "efivarfs", "fusectl", "binfmt_misc", "devpts", "mqueue"})


def _file_system(path: Path) -> str | None:
    """The type of the file system ``path`` lies on, from the mount table (None: unknown)."""
    try:
        mounts = Path("/proc/self/mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    best, kind = "", None
    target = os.path.realpath(path)
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        # The table escapes spaces and tabs in mount points as octal (\040).
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def _cannot_create(path: Path) -> str | None:
    """Why a new ``path`` (and folders above it) cannot be made, or None if it can."""
    folder = path.parent
    while not (folder.exists() or folder.is_symlink()):
        folder = folder.parent
    if not folder.is_dir():
        return f"{show(str(folder))} is a file, not a folder; choose an output in a folder"
    kind = _file_system(folder)
    if kind in _VIRTUAL_FILE_SYSTEMS:
        return (f"{show(str(folder))} is on {kind}, a file system of the kernel where nothing "
                f"can be stored; choose an output in your own folders")
    if not os.access(folder, os.W_OK | os.X_OK):
        return (f"cannot create anything in {show(str(folder))} (read-only, or not yours); "
                f"choose an output in a folder you can write")
    return None


@_rule(ClusterSection, {"walltime": "not zero"})
def _walltime_is_not_zero(v: _Values) -> None:
    m = v.match("walltime")
    if m and not any(int(g) for g in m.groups()):
        v.fail("walltime", f'got {show(m.group())}; expected a non-zero duration "HH:MM:SS", '
                           f'e.g. "12:00:00"')


@_rule(ClusterSection, {"memory": "more than zero; for a batch kind at least 256 MiB"})
def _memory_per_scheduler(v: _Values) -> None:
    """cluster.memory: positive, and enough for a worker on the batch system it goes to."""
    m = v.match("memory")
    if m is None:
        return
    if float(m.group(1)) <= 0:
        v.fail("memory", f'got {show(m.group())}; expected a positive amount with a unit, '
                         f'e.g. "4GB"')
    elif v.string("kind") not in (None, "local") and (why := too_small(v["kind"], m.group())):
        v.fail("memory", f'got {show(m.group())}; {why}; give at least "1GB"')


def _fail_items(v: _Values, key: str, problem_of: Callable[[str], str | None],
                advice: str) -> None:
    """Report, at its index, each string of array field ``key`` in which ``problem_of`` finds
    a problem (its text, then ``advice``)."""
    items = v[key]
    if not isinstance(items, tuple):
        return
    for i, item in enumerate(items):
        if (problem := problem_of(item)) is not None:
            v.fail(key, f"got {show(item)}; {problem}{advice}", at=f"{v.at(key)}[{i}]")


def _directive_problem(directive: str) -> str | None:
    return word_problem(directive) or (
        None if directive.startswith("-") else "it does not start with '-'")


# Each string below reaches a batch script (a directive, a prologue line) or a launcher's argv.
@_rule(ClusterSection, {"job_extra_directives": f"each one option starting with `-`: "
                                                f"{WORD_RULE}, without spaces"})
def _directives_are_single_options(v: _Values) -> None:
    # sbatch and qsub split a directive at white space: one option, one token, nothing a shell
    # or a second line could read.
    _fail_items(v, "job_extra_directives", _directive_problem,
                ": expected one scheduler option starting with '-', without spaces or shell "
                "characters, e.g. \"--exclusive\" or \"--constraint=a100\"")


@_rule(ClusterSection, {"launcher_options": f"each {WORD_RULE}"})
def _launcher_options_are_words(v: _Values) -> None:
    _fail_items(v, "launcher_options", word_problem,
                ': give each argument as its own string, e.g. ["--cpu-bind=cores"] or '
                '["--bind-to", "core"]')


@_rule(ClusterSection, {"prologue": PROLOGUE_RULE})
def _prologue_lines_are_simple_commands(v: _Values) -> None:
    _fail_items(v, "prologue", prologue_problem, ', e.g. "module load lammps"')


@_rule(ClusterSection, {"launcher": "srun for `slurm`, or for `local` inside an allocation"})
def _launcher_fits_the_kind(v: _Values) -> None:
    kind, launcher = v.string("kind"), v.string("launcher")
    if launcher == "srun" and kind in ("pbs", "lsf", "sge"):
        v.fail("launcher", f'got "srun" with kind = "{kind}"; srun is Slurm\'s launcher: use '
                           f'"mpiexec", "mpirun" or the path of the site\'s, or leave it out')


@_rule(Spec, {"sweep.output": "for a batch kind, its work folder a path of A-Z a-z 0-9 _ . , : "
                              "= / + @ % - (it reaches the job script)"})
def _work_folder_fits_a_job_script(v: _Values) -> None:
    sweep, cluster = v["sweep"], v["cluster"]
    if not (isinstance(sweep, _Values) and isinstance(cluster, _Values)):
        return
    output = sweep["output"]
    if cluster["kind"] in (None, "local", _BAD) or not isinstance(output, Path):
        return
    from mesosweep.ensemble.layout import SweepLayout  # noqa: PLC0415 - as in _output_is_new...

    work = SweepLayout(output).workdir
    # The workers' job script names folders in it (dask's local and log directories, the TLS
    # files): a space would split the command, a shell character would run one.
    if (problem := word_problem(str(work))) is not None:
        sweep.fail("output", f"got {show(str(output))}; its work folder {show(str(work))} goes "
                             f"into the workers' job script and {problem}; choose an output "
                             f"whose path has none")


@_rule(ClusterSection, {"ranks_per_realisation": "for `local` also ≤ the machine's cores"})
def _local_ranks_fit_the_machine(v: _Values) -> None:
    ranks = v["ranks_per_realisation"]
    if v["kind"] == "local" and _is_int(ranks):
        cores = os.cpu_count()
        if cores is not None and ranks > cores:
            v.fail("ranks_per_realisation",
                   f"got {ranks}; this machine has {cores} cores, so a local run allows at most "
                   f"{cores}; lower it or use a slurm/pbs cluster")


@_rule(ParticlesSection, {"diameter_range_um": "first ≤ second"})
def _diameter_range_is_ordered(v: _Values) -> None:
    drange = v["diameter_range_um"]
    if isinstance(drange, tuple) and drange[0] > drange[1]:
        v.fail("diameter_range_um", f"got {show(list(drange))}; expected [smallest, largest] "
                                    f"with smallest <= largest; swap them")


def _not_a_database(path: Path) -> str | None:
    """Why the file at ``path`` is no particle database (None: it is one)."""
    # Lazy: the database format belongs to the stages; only a spec that names a file needs it.
    from mesosweep.stages.particles import peek_database  # noqa: PLC0415

    try:
        peek_database(path)
    except (OSError, ValueError) as exc:
        return (f"{exc}; build one with `mesosweep particles build` (docs/particle-database.md)")
    return None


def _voxels_of(diameter_um: float, voxel_um: float) -> float:
    """Voxels of a sphere of ``diameter_um`` on a grid of ``voxel_um``."""
    return math.pi / 6 * (diameter_um / voxel_um) ** 3


# A synthetic particle narrower than this (voxels) vanishes in the separation's erosion.
MIN_PARTICLE_VOXELS_ACROSS = 2.0


@_rule(ParticlesSection, {"diameter_range_um": "synthetic: the largest at least 2 voxels across",
                          "min_voxels": "synthetic: at most the voxels of the largest particle"})
def _synthetic_particles_survive_separation(v: _Values) -> None:
    drange, voxel, least = v["diameter_range_um"], v.number("voxel_size_um"), v["min_voxels"]
    if v["source"] != "synthetic" or not isinstance(drange, tuple) or voxel is None:
        return
    largest = drange[1]
    if largest / voxel < MIN_PARTICLE_VOXELS_ACROSS:
        v.fail("diameter_range_um", f"got {show(list(drange))}; at voxel_size_um = {show(voxel)} "
                                    f"the largest particle is {largest / voxel:.3g} voxels across, "
                                    f"and the separation erodes it away; particles need at least "
                                    f"{MIN_PARTICLE_VOXELS_ACROSS:g} voxels across: raise the "
                                    f"diameters or lower voxel_size_um")
    elif _is_int(least) and _voxels_of(largest, voxel) < least:
        v.fail("min_voxels", f"got {least}; the largest synthetic particle ({show(largest)} um at "
                             f"{show(voxel)} um voxels) holds about "
                             f"{_voxels_of(largest, voxel):.0f} voxels, so every particle would "
                             f"be dropped as a fragment; lower min_voxels or raise "
                             f"diameter_range_um")


@_rule(ParticlesSection, {"database": 'an existing particle database; **required** when '
                                      '`source = "database"`, an error when `source = '
                                      '"synthetic"`'})
def _database_matches_source(v: _Values) -> None:
    database, source = v["database"], v["source"]
    if isinstance(database, str):
        if source == "synthetic":
            v.fail("database", f'got {show(database)} but particles.source is "synthetic", '
                               f'which ignores it; set source = "database" or remove database')
        elif not database.strip():
            v.fail("database", 'got ""; expected the path of the particle database')
        else:
            path = _absolute(database, v.base_dir)
            if not path.exists():
                v.fail("database", f"got {show(database)}; {show(str(path))} does not exist "
                                   f"(relative paths are taken from the spec's folder); build "
                                   f"the database first or fix the path")
            elif (problem := _not_a_database(path)) is not None:
                v.fail("database", f"got {show(database)}; {problem}")
            else:
                v.set("database", path)
    elif database is None and source == "database":
        v.fail("database", 'required when particles.source = "database"; add database = '
                           '"<path to the particle database>" to [particles]')


@_rule(StructureSection, {"cbd_diameter_dried_um": "≤ `cbd_diameter_slurry_um` (drying shrinks "
                                                   "beads)"})
def _cbd_beads_shrink_on_drying(v: _Values) -> None:
    slurry, dried = v.number("cbd_diameter_slurry_um"), v.number("cbd_diameter_dried_um")
    if slurry is not None and dried is not None and dried > slurry:
        # Drying shrinks the solvent-swollen CBD bead; it never grows.
        v.fail("cbd_diameter_dried_um", f"got {show(dried)}; must be <= cbd_diameter_slurry_um "
                                        f"({show(slurry)}): drying shrinks CBD beads")


@_rule(StructureSection, {"psd_table": "diameters > 0 and strictly increasing, fractions ≥ 0 "
                                        "summing to 1 (± 0.01); a file must exist"})
def _psd_table(v: _Values) -> None:
    """structure.psd_table: a CSV path or inline [[diameter_um, number_fraction], ...] rows."""
    value = v["psd_table"]
    path_text = v.at("psd_table")
    example = example_of(field_info(StructureSection, "psd_table"))
    if value is None:
        return
    # Imported here: only specs that name a PSD table need the parser.
    from mesosweep.stages.psd import parse_psd_rows, read_psd_table  # noqa: PLC0415

    if isinstance(value, str):
        if not value.strip():
            v.fail("psd_table", f'got ""; expected the path of a CSV file, e.g. psd_table = '
                                f'{example}')
            return
        path = _absolute(value, v.base_dir)
        try:
            read_psd_table(path)
        except FileNotFoundError:
            v.fail("psd_table", f"got {show(value)}; {show(str(path))} does not exist or is "
                                f"not a file (relative paths are taken from the spec's folder); "
                                f"fix the path")
            return
        except ValueError as exc:
            v.fail("psd_table", f"got {show(value)}; {exc}")
            return
        v.set("psd_table", path)
        return
    if not isinstance(value, (list, tuple)):
        _wrong_type(v, path_text, value, f"a CSV path or an array of [diameter_um, "
                                         f"number_fraction] rows, e.g. psd_table = {example}")
        v.set("psd_table", _BAD)
        return
    typed = True
    for i, row in enumerate(value):
        # TOML has real numbers: a quoted "2.5" is a mistake here, unlike in a CSV cell
        if not (isinstance(row, (list, tuple)) and len(row) == 2
                and all(_is_number(x) for x in row)):
            _wrong_type(v, f"{path_text}[{i}]", row, "[diameter_um, number_fraction], two "
                                                     "numbers, e.g. [4.0, 0.25]")
            typed = False
    if not typed:
        v.set("psd_table", _BAD)
        return
    try:
        parse_psd_rows(value, labels=[f"{path_text}[{i}]" for i in range(len(value))])
    except ValueError as exc:
        message = str(exc)
        if message.startswith(path_text + "["):
            # A row's problem already starts with its field path.
            v.problems.append(message)
            v.set("psd_table", _BAD)
        else:
            v.fail("psd_table", message)
        return
    v.set("psd_table", tuple((float(row[0]), float(row[1])) for row in value))


def _psd_diameters(value: Any) -> list[float]:
    """The class diameters of a valid psd_table value (a CSV path or rows), µm."""
    if isinstance(value, Path):
        from mesosweep.stages.psd import read_psd_table  # noqa: PLC0415 - as in _psd_table

        return list(read_psd_table(value).diameter_um)
    return [row[0] for row in value]


@_rule(StructureSection, {"psd_table": f"diameters in [{PARTICLE_DIAMETER_UM[0]:g}, "
                                       f"{PARTICLE_DIAMETER_UM[1]:g}] µm and within the smallest "
                                       f"edge of `box_um`"})
def _psd_classes_fit(v: _Values) -> None:
    value, box = v["psd_table"], v["box_um"]
    if value is None or value is _BAD:
        return
    low, high = PARTICLE_DIAMETER_UM
    for d in _psd_diameters(value):
        if not low <= d <= high:
            v.fail("psd_table", f"a class of diameter {show(d)} um; classes must lie in "
                                f"[{low:g}, {high:g}] um (secondary particles of electrodes)")
            return
        if isinstance(box, tuple) and d > min(box):
            v.fail("psd_table", f"a class of diameter {show(d)} um is wider than the smallest "
                                f"edge of box_um ({show(min(box))} um): such a particle would "
                                f"touch its own periodic image; enlarge box_um or drop the class")
            return


@_rule(Spec, {"structure.box_um": "each edge at least the largest particle's diameter"})
def _largest_particle_fits_the_box(v: _Values) -> None:
    particles, structure = v["particles"], v["structure"]
    if not (isinstance(particles, _Values) and isinstance(structure, _Values)):
        return
    box, drange = structure["box_um"], particles["diameter_range_um"]
    database = particles["database"]
    if not isinstance(box, tuple):
        return
    if particles["source"] == "synthetic" and isinstance(drange, tuple):
        largest, what = drange[1], f"particles.diameter_range_um ({show(list(drange))})"
    elif particles["source"] == "database" and isinstance(database, Path):
        from mesosweep.stages.particles import peek_database  # noqa: PLC0415 - as above

        largest, what = float(peek_database(database).diameter_um.max()), "the database"
    else:
        return
    psd = structure["psd_table"]
    if psd is not None and psd is not _BAD:
        # The structure draws the particle nearest each class: none far above the top class.
        largest = min(largest, max(_psd_diameters(psd)))
    if largest > min(box):
        structure.fail("box_um", f"got {show(list(box))}; its smallest edge is narrower than "
                                 f"the largest particle of {what}, {largest:.4g} um, which would "
                                 f"touch its own periodic image; enlarge box_um")


@_rule(Formulation, {"cbd_mass_percent": "`am_mass_percent + cbd_mass_percent` = 100 (± 1e-6)"})
def _masses_sum_to_100(v: _Values) -> None:
    am, cbd = v.number("am_mass_percent"), v.number("cbd_mass_percent")
    if am is not None and cbd is not None and abs(am + cbd - 100) > MASS_SUM_TOLERANCE:
        v.fail("am_mass_percent", f"am_mass_percent + cbd_mass_percent = {show(am)} + "
                                  f"{show(cbd)} = {am + cbd:.6g}; must sum to 100 (solid mass "
                                  f"split between AM and CBD)", at=v.path)


_FORCEFIELD_RULE = "a shipped set name (`a-z 0-9 _ -`) or the path of an existing `.toml` file"


@_rule(NumericsSection, {"forcefield_slurry": _FORCEFIELD_RULE,
                         "forcefield_dried": _FORCEFIELD_RULE})
def _forcefields_are_names_or_files(v: _Values) -> None:
    for key in ("forcefield_slurry", "forcefield_dried"):
        default = field_info(NumericsSection, key).default
        value = v.string(key)
        if value is None:
            continue
        if _looks_like_path(value):
            path = _absolute(value, v.base_dir)
            if path.suffix != ".toml" or not path.is_file():
                v.fail(key, f"got {show(value)}; the file {show(str(path))} does not exist or "
                            f"is not a .toml file (relative paths are taken from the spec's "
                            f"folder); give an existing .toml file or a shipped set name such as "
                            f"{json.dumps(default)}")
            else:
                v.set(key, str(path))
        elif not _FORCEFIELD_NAME_RE.fullmatch(value):
            v.fail(key, f"got {show(value)}; allowed: the name of a shipped parameter set "
                        f"(lower-case a-z 0-9 _ -, e.g. {json.dumps(default)}) or a path to an "
                        f"existing .toml file")


@_rule(NumericsSection, {"check_steps": "≤ every `*_max_steps`",
                         "relax_check_steps": "≤ `relax_max_steps`"})
def _checks_fit_in_max_steps(v: _Values) -> None:
    check = v["check_steps"]
    if _is_int(check):
        for key in ("slurry_max_steps", "drying_max_steps", "relax_max_steps"):
            steps = v[key]
            # A stage shorter than one check interval would never test for convergence.
            if _is_int(steps) and check > steps:
                v.fail("check_steps", f"got {check}; must be <= {key} ({steps}) so convergence "
                                      f"is checked at least once; lower check_steps or raise "
                                      f"{key}")
                break
    relax_check, relax_max = v["relax_check_steps"], v["relax_max_steps"]
    if _is_int(relax_check) and _is_int(relax_max) and relax_check > relax_max:
        v.fail("relax_check_steps", f"got {relax_check}; must be <= relax_max_steps "
                                    f"({relax_max}) so the relaxation is checked at least once; "
                                    f"lower relax_check_steps or raise relax_max_steps")


# --------------------------------------------------------------------------------------------
# Paths, stores and force fields


def is_mesosweep_store(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a directory holding a zarr.json whose attributes name mesosweep.

    Reads the JSON directly (no zarr import) and never raises: anything unreadable is "not a
    store", which is what protects unrelated data from being overwritten.
    """
    meta = Path(path) / "zarr.json"
    try:
        with meta.open("r", encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return False
    if not isinstance(doc, dict):
        return False
    attributes = doc.get("attributes")
    return isinstance(attributes, dict) and "mesosweep_version" in attributes


def describe_non_store(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` is not a sweep's store, in words (None: it is one).

    A folder whose root metadata (``zarr.json``) is damaged but which holds a mesosweep store's
    arrays is named as such: its data may be intact, so nothing here suggests removing it.
    """
    path = Path(path)
    if is_mesosweep_store(path):
        return None
    if not (path.exists() or path.is_symlink()):
        return f"{show(str(path))} is not a mesosweep store: it does not exist"
    meta = path / "zarr.json"
    if path.is_dir() and (path / "status" / "zarr.json").is_file():
        # The arrays of a sweep store are there; only the root's metadata cannot be read.
        try:
            text = meta.read_text(encoding="utf-8")
            json.loads(text)
            what = "names no mesosweep version in its attributes"
        except FileNotFoundError:
            what = "is missing"
        except (OSError, ValueError) as exc:
            what = f"cannot be read ({exc})"
        return (f"{show(str(path))} holds a sweep store's arrays, but its root metadata "
                f"{show(str(meta))} {what}; its data may be intact: keep it and restore zarr.json "
                f"from a backup, or give a new output for a new sweep")
    return (f"{show(str(path))} exists and is not a mesosweep store (no zarr.json with "
            f"attributes.mesosweep_version); choose another output, or move it away")


def _params_dir() -> Path:
    """The shipped parameter sets: ``stages/params`` beside the installed ``stages`` package.

    Found through the import system without importing ``stages``, so validating a spec never
    pulls in the physics (LAMMPS, MPI).
    """
    found = importlib.util.find_spec("mesosweep.stages")
    if found is None or not found.submodule_search_locations:
        raise SpecError("numerics: the stages package is not installed; reinstall mesosweep")
    return Path(list(found.submodule_search_locations)[0]) / "params"


def _looks_like_path(value: str) -> bool:
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(s in value for s in seps) or value.endswith(".toml") or value.startswith("~")


def _absolute(value: str, base_dir: Path) -> Path:
    """Expand ~ and anchor a relative path at base_dir; normalise without following links."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return Path(os.path.abspath(path))


def resolve_forcefield(name_or_path: str | os.PathLike[str], *, base_dir: Path | None = None,
                       field: str = "numerics.forcefield") -> Path:
    """The TOML file of a force field: a shipped set by bare name, or a path to a .toml file.

    Relative paths are taken from ``base_dir`` (default: the current directory). Raises
    :class:`SpecError` naming ``field`` if the file does not exist.
    """
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, str) and not _looks_like_path(text):
        if not _FORCEFIELD_NAME_RE.fullmatch(text):
            raise SpecError(f"{field}: got {show(text)}; allowed: a shipped parameter set name "
                            f"(a-z 0-9 _ -) or a path to a .toml file")
        params = _params_dir()
        path = params / f"{text}.toml"
        if not path.is_file():
            shipped = sorted(p.stem for p in params.glob("*.toml")) if params.is_dir() else []
            hint = suggest(text, shipped)
            raise SpecError(f"{field}: got {show(text)}; no shipped parameter set of that name "
                            f"in {params} (shipped: {', '.join(shipped) or 'none'})"
                            + (f'; did you mean "{hint}"?' if hint else ""))
        return path
    path = _absolute(text, base_dir if base_dir is not None else Path.cwd())
    if path.suffix != ".toml" or not path.is_file():
        raise SpecError(f"{field}: got {show(text)}; the force-field file {show(str(path))} "
                        f"does not exist or is not a .toml file; give an existing .toml file "
                        f"or a shipped set name")
    return path


# --------------------------------------------------------------------------------------------
# Entry points


def parse_spec(data: Mapping[str, Any], *, base_dir: Path) -> Spec:
    """Validate a spec already read into a dict (from TOML, or from :func:`spec_to_dict`).

    ``base_dir`` anchors relative input paths (particle database, PSD table, force-field files);
    ``sweep.output`` is anchored at the current directory. A ``None`` value means "not given".
    Raises :class:`SpecError` listing every problem, one per line: table by table in file
    order, each table's fields in order, then its cross-field rules.
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"spec: got {_kind(data)}; expected a table of sections")
    problems: list[str] = []
    spec = _build(_read_table(Spec, data, "", "the top of the file", problems, base_dir))
    if problems:
        raise SpecError(problems)
    return spec


def check_forcefields(spec: Spec) -> None:
    """Load both parameter sets and refuse missing or non-physical values before any job starts.

    Kept out of :func:`parse_spec`, which checks a spec's shape only (a set named there may not
    exist yet where the spec is written). Raises :class:`SpecError`, one line per bad set.
    """
    # Lazy: validating a spec's shape never imports the stages package.
    from mesosweep.stages.forcefield import (  # noqa: PLC0415
        ForceFieldError,
        barostat,
        load_forcefield,
    )

    lines = []
    for key in ("forcefield_slurry", "forcefield_dried"):
        field = f"numerics.{key}"
        try:
            ff = load_forcefield(resolve_forcefield(getattr(spec.numerics, key), field=field))
            if key == "forcefield_slurry":
                barostat(ff)  # the slurry runs NPT
        except (ForceFieldError, SpecError) as exc:
            lines.append(str(exc) if str(exc).startswith(field) else f"{field}: {exc}")
    if lines:
        raise SpecError(lines)


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read and validate a sweep spec TOML file; relative input paths are taken from its folder.

    Every problem line is prefixed with the file name, compiler-style. Raises
    :class:`SpecError` (file missing, not a regular file, larger than ``MAX_SPEC_BYTES``,
    unreadable, not UTF-8, TOML syntax error, nested too deeply, or invalid content). A UTF-8
    byte-order mark at the top, which some Windows editors write, is accepted.
    """
    label = os.fspath(path)
    file = Path(label).expanduser()
    try:
        data = _read_toml_file(file)
    except SpecError as exc:
        raise SpecError([f"{label}: {line}" for line in exc.problems]) from None
    try:
        return parse_spec(data, base_dir=file.parent)
    except SpecError as exc:
        raise SpecError([f"{label}: {line}" for line in exc.problems]) from None


def _read_toml_file(file: Path) -> dict[str, Any]:
    """The TOML table of a spec file, or :class:`SpecError` saying in one line what is wrong."""
    try:
        # stat first: opening a FIFO blocks until a writer comes, and /dev/zero never ends.
        mode = file.stat().st_mode
        raw = _read_at_most(file, MAX_SPEC_BYTES + 1) if stat.S_ISREG(mode) else b""
    except FileNotFoundError:
        raise SpecError(f"spec file not found (looked for {file.absolute()}); check the path, "
                        f"e.g. sweeps/quick.toml") from None
    except ValueError:  # a NUL byte in the path
        raise SpecError("the path holds a NUL byte; give the path of a .toml spec file") from None
    except OSError as exc:
        raise SpecError(f"cannot read the spec file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise SpecError("is a directory; give the path of a .toml spec file")
    if not stat.S_ISREG(mode):
        raise SpecError("not a regular file (a device, FIFO or socket); give the path of a "
                        ".toml spec file")
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"larger than {MAX_SPEC_BYTES // 1024} KiB; a sweep spec is a few KiB "
                        f"of TOML: give the spec file, not a data file")
    try:
        text = raw.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text (byte {exc.start}); save the spec as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"not valid TOML: {exc}; fix the syntax there") from None
    except RecursionError:
        raise SpecError(f"arrays or tables nested too deeply to read; a sweep spec nests at "
                        f"most {MAX_SPEC_NESTING} levels") from None
    if _nests_deeper(data, MAX_SPEC_NESTING):
        raise SpecError(f"arrays or tables nested more than {MAX_SPEC_NESTING} levels deep; a "
                        f"sweep spec needs 4 at most (e.g. [structure] psd_table = [[4.0, 0.5], "
                        f"[8.0, 0.5]])")
    return data


def _read_at_most(file: Path, size: int) -> bytes:
    with file.open("rb") as fh:
        return fh.read(size)


def _nests_deeper(value: Any, levels: int) -> bool:
    """True if arrays and tables nest more than ``levels`` deep in ``value``."""
    if not isinstance(value, (list, dict)):
        return False
    if levels == 0:
        return True
    items = value.values() if isinstance(value, dict) else value
    return any(_nests_deeper(v, levels - 1) for v in items)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The spec as a plain JSON-able dict: paths as strings, tuples as lists, unset as None.

    Keys match the TOML file, so ``parse_spec(spec_to_dict(s), base_dir=...) == s``.
    """
    return _plain(spec)


def canonical_json(spec: Spec) -> str:
    """The exact text :func:`spec_hash` hashes: sorted keys, no spaces, ASCII only."""
    return json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False)


def spec_hash(spec: Spec) -> str:
    """SHA-256 (hex) of :func:`canonical_json`: equal specs hash equal, any change differs."""
    return hashlib.sha256(canonical_json(spec).encode("ascii")).hexdigest()
