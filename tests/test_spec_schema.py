"""The spec schema declared once: docs/spec.md's tables and the JSON Schema are built from it."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mesosweep.cli import main
from mesosweep.cluster import KINDS
from mesosweep.ensemble.schema import ClusterSection, Spec, field_info, fields_of
from mesosweep.ensemble.spec import rule_texts, toml_kind
from mesosweep.ensemble.spec_docs import json_schema, markdown_tables, render_tables
from tests.conftest import REPO

DOCS = REPO / "docs" / "spec.md"
SWEEPS = sorted((REPO / "sweeps").glob("*.toml"))


def _tables() -> list[type]:
    """Every table class of the schema: the top level, then each section."""
    out = [Spec]
    for info in fields_of(Spec):
        kind, _ = toml_kind(info.type)
        if kind in ("table", "tables"):
            out.append(info.type if kind == "table" else info.type.__args__[0])
    return out


# --------------------------------------------------------------------------------------------
# The declarations themselves


def test_every_field_is_documented_and_has_a_toml_form() -> None:
    for cls in _tables():
        for info in fields_of(cls):
            # One line, written as a table cell (the JSON Schema adds the full stop).
            assert info.doc and "\n" not in info.doc and not info.doc.endswith("."), info.name
            kind, _ = toml_kind(info.type)
            if info.required and kind not in ("table", "tables"):
                # The "required field is missing; add key = ..." line needs an example.
                assert info.example, f"{cls.__name__}.{info.name}"
            if kind == "mixed":
                # Read by a named validator only: one must exist, and say what it allows.
                assert rule_texts(cls, info.name), f"{cls.__name__}.{info.name}"


def test_one_backend_list() -> None:
    assert field_info(ClusterSection, "kind").choices == KINDS
    for kind in KINDS:
        assert importlib.util.find_spec(f"mesosweep.cluster.{kind}") is not None, kind


def test_spec_validation_does_not_import_dask() -> None:
    code = ("import sys, mesosweep.ensemble.spec, mesosweep.ensemble.spec_docs, mesosweep.cluster\n"
            "heavy = ('distributed', 'dask', 'dask_jobqueue')\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------
# docs/spec.md


def test_docs_tables_are_in_step_with_the_schema() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert render_tables(text) == text, "docs/spec.md is out of step: run `mesosweep spec docs`"


def test_docs_have_one_table_per_section() -> None:
    tables = markdown_tables()
    assert list(tables) == ["top-level"] + [f.name for f in fields_of(Spec)
                                            if toml_kind(f.type)[0] in ("table", "tables")]
    # Every field of a section is a row of its table.
    for name, table in tables.items():
        if name != "top-level":
            cls = _tables()[list(tables).index(name)]
            for info in fields_of(cls):
                assert f"| `{info.name}` |" in table, (name, info.name)


def test_render_refuses_unknown_and_missing_tables() -> None:
    with pytest.raises(ValueError, match="'nope' is not a table"):
        render_tables("<!-- generated table: nope -->\n<!-- end of generated table -->")
    with pytest.raises(ValueError, match="no markers.*sweep"):
        render_tables("prose only\n")


def test_spec_docs_command_checks_and_rewrites(tmp_path: Path, capsys) -> None:
    stale = tmp_path / "spec.md"
    text = DOCS.read_text(encoding="utf-8")
    stale.write_text(text.replace("| `workers` | integer |", "| `workers` | number |"))
    assert main(["spec", "docs", "--check", str(DOCS)]) == 0
    assert main(["spec", "docs", "--check", str(stale)]) == 1
    assert "out of step" in capsys.readouterr().err
    assert main(["spec", "docs", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == text
    assert main(["spec", "docs", str(tmp_path / "absent.md")]) == 2


# --------------------------------------------------------------------------------------------
# The JSON Schema


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_command_prints_the_schema(tmp_path: Path, capsys) -> None:
    assert main(["spec", "schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json_schema()
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert main(["spec", "schema", "-o", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text(encoding="utf-8")) == printed


def test_schema_describes_every_field(validator) -> None:
    def walk(schema: dict[str, Any], cls: type) -> None:
        assert schema["additionalProperties"] is False
        assert list(schema["properties"]) == [f.name for f in fields_of(cls)]
        for info in fields_of(cls):
            prop = schema["properties"][info.name]
            assert prop["description"], info.name
            kind, _ = toml_kind(info.type)
            if kind == "table":
                walk(prop, info.type)
            elif kind == "tables":
                walk(prop["items"], info.type.__args__[0])
            if info.unit:
                assert info.unit in prop["description"]

    walk(validator.schema, Spec)
    degrees = validator.schema["properties"]["process"]["properties"]["compression_degrees"]
    assert degrees["uniqueItems"] and degrees["items"]["maximum"] == 0.9
    kind = validator.schema["properties"]["cluster"]["properties"]["kind"]
    assert kind["enum"] == list(KINDS) and kind["default"] == "local"


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_shipped_sweeps_validate(validator, path: Path) -> None:
    with path.open("rb") as fh:
        validator.validate(tomllib.load(fh))


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data[int(key)] if isinstance(data, list) else data[key]
    data[last] = value


BAD = {
    "unknown key": ("structure.box", [1, 2, 3]),
    "unknown section": ("proces", {"x": 1}),
    "unknown kind": ("cluster.kind", "slrum"),
    "box not positive": ("structure.box_um", [16.0, -1.0, 64.0]),
    "box of two": ("structure.box_um", [16.0, 16.0]),
    "degree too high": ("process.compression_degrees", [0.15, 0.95]),
    "degree repeated": ("process.compression_degrees", [0.15, 0.15]),
    "seed too high": ("sweep.root_seed", 900_000_001),
    "string for a number": ("particles.voxel_size_um", "0.6"),
    "boolean for an integer": ("sweep.realisations", True),
    "hostile name": ("sweep.name", "$(id)"),
    "walltime format": ("cluster.walltime", "1h"),
    "mass over 100": ("formulations.0.am_mass_percent", 100.0),
    "schema version": ("schema_version", 2),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_sweeps_are_rejected(validator, case: str) -> None:
    with (REPO / "sweeps" / "quick.toml").open("rb") as fh:
        data = tomllib.load(fh)
    dotted, value = BAD[case]
    _set(data, dotted, value)
    assert not validator.is_valid(data)


@pytest.mark.parametrize("section", ["sweep", "process", "formulations"])
def test_missing_required_section_is_rejected(validator, section: str) -> None:
    with (REPO / "sweeps" / "quick.toml").open("rb") as fh:
        data = tomllib.load(fh)
    broken = copy.deepcopy(data)
    del broken[section]
    assert validator.is_valid(data) and not validator.is_valid(broken)
