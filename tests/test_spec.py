"""Tests of the sweep spec: schema, validation messages, canonical form and hash."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mesosweep.ensemble import spec as spec_mod
from mesosweep.ensemble.spec import (
    ClusterSection,
    Spec,
    SpecError,
    canonical_json,
    is_mesosweep_store,
    load_spec,
    parse_spec,
    resolve_forcefield,
    spec_hash,
    spec_to_dict,
)

REPO = Path(__file__).resolve().parents[1]
QUICK = REPO / "sweeps" / "quick.toml"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative outputs resolve against the cwd: keep them in tmp_path, never in the repo.
    monkeypatch.chdir(tmp_path)
    # A fixed core count so the local-ranks check does not depend on the test machine.
    monkeypatch.setattr(spec_mod.os, "cpu_count", lambda: 4)


@pytest.fixture
def good() -> dict[str, Any]:
    with QUICK.open("rb") as fh:
        return tomllib.load(fh)


def problems_of(data: dict[str, Any], base_dir: Path | None = None) -> tuple[str, ...]:
    with pytest.raises(SpecError) as info:
        parse_spec(data, base_dir=base_dir or Path.cwd())
    err = info.value
    # One line per problem, and str(err) is exactly those lines.
    assert str(err) == "\n".join(err.problems)
    assert all("\n" not in line and "\r" not in line for line in err.problems)
    return err.problems


def _tiny_database(path: Path) -> None:
    """A real particle database of one 3-voxel cube at ``path`` (a spec's database is read)."""
    import os

    import numpy as np

    from mesosweep.stages.particles import ParticleDatabase, save_database

    path.parent.mkdir(parents=True, exist_ok=True)
    written = save_database(ParticleDatabase.from_masks([np.ones((3, 3, 3), bool)], 0.642), path)
    os.replace(written, path)  # save_database names it .npz


def set_at(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def del_at(data: dict[str, Any], path: tuple[Any, ...]) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


# --------------------------------------------------------------------------------------------
# The reference example, round trip and hash


def test_quick_toml_loads(tmp_path: Path) -> None:
    spec = load_spec(QUICK)
    assert spec.schema_version == 1
    assert spec.sweep.name == "quick"
    assert spec.sweep.root_seed == 20251125
    assert spec.sweep.realisations == 2
    # Relative output is taken from the current directory, not from sweeps/.
    assert spec.sweep.output == tmp_path / "quick.zarr"
    assert spec.cluster == ClusterSection(kind="local", workers=2, ranks_per_realisation=1)
    assert spec.particles.diameter_range_um == (2.0, 7.0)
    assert spec.structure.box_um == (16.0, 16.0, 64.0)
    assert [f.name for f in spec.formulations] == ["96-4"]
    assert spec.process.compression_degrees == (0.15, 0.30)
    assert spec.process.slurry_pressure_Pa == 1.0e5
    assert spec.numerics.forcefield_slurry == "slurry"
    assert spec.analysis.cbd_as == "solid"


def test_minimal_spec_gets_defaults() -> None:
    data = {
        "sweep": {"name": "m", "root_seed": 7, "realisations": 1, "output": "m.zarr"},
        "formulations": [{"name": "94-6", "am_mass_percent": 94, "cbd_mass_percent": 6,
                          "solid_content_percent": 60, "dried_porosity_percent": 50}],
        "process": {"compression_degrees": [0.3]},
    }
    spec = parse_spec(data, base_dir=Path.cwd())
    assert spec.cluster == ClusterSection()
    assert spec.structure.box_um == (80.0, 80.0, 120.0)
    assert spec.process.slurry_temperature_K == 300.0
    # Integers are accepted where numbers are expected, and stored as floats.
    assert isinstance(spec.formulations[0].am_mass_percent, float)


def test_round_trip_is_equal(good: dict[str, Any], tmp_path: Path) -> None:
    spec = parse_spec(good, base_dir=QUICK.parent)
    plain = spec_to_dict(spec)
    json.dumps(plain)  # JSON-able
    assert plain["sweep"]["output"] == str(tmp_path / "quick.zarr")
    assert plain["structure"]["box_um"] == [16.0, 16.0, 64.0]
    assert isinstance(plain["formulations"], list)
    assert parse_spec(plain, base_dir=tmp_path) == spec
    # Survives a trip through JSON text too (what provenance stores).
    assert parse_spec(json.loads(json.dumps(plain)), base_dir=tmp_path) == spec


def test_relaxation_checks_default_to_check_steps_and_can_be_set(good: dict[str, Any]) -> None:
    from mesosweep.ensemble.params import numerics_of

    spec = parse_spec(good, base_dir=QUICK.parent)
    assert spec.numerics.relax_check_steps is None
    assert numerics_of(spec, "calendering").relax_check == spec.numerics.check_steps
    good["numerics"]["relax_check_steps"] = 250
    spec = parse_spec(good, base_dir=QUICK.parent)
    assert numerics_of(spec, "drying").relax_check == 250
    assert parse_spec(spec_to_dict(spec), base_dir=QUICK.parent) == spec


def test_round_trip_with_paths_and_batch_fields(good: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "ff.toml").write_text("# parameters\n")
    _tiny_database(tmp_path / "particles.db")
    good["numerics"]["forcefield_dried"] = "ff.toml"
    good["particles"]["source"] = "database"
    good["particles"]["database"] = "particles.db"
    good["cluster"].update(kind="slurm", queue="compute", account="proj-1",
                           walltime="12:00:00", memory="16GiB",
                           job_extra_directives=["--exclusive"])
    spec = parse_spec(good, base_dir=tmp_path)
    assert spec.numerics.forcefield_dried == str(tmp_path / "ff.toml")
    assert spec.particles.database == tmp_path / "particles.db"
    assert spec.cluster.job_extra_directives == ("--exclusive",)
    assert parse_spec(spec_to_dict(spec), base_dir=Path("/")) == spec


def test_spec_hash_stable_and_sensitive(good: dict[str, Any]) -> None:
    a = parse_spec(good, base_dir=QUICK.parent)
    b = parse_spec(copy.deepcopy(good), base_dir=QUICK.parent)
    h = spec_hash(a)
    assert len(h) == 64 and int(h, 16) >= 0
    assert spec_hash(b) == h
    assert spec_hash(parse_spec(spec_to_dict(a), base_dir=QUICK.parent)) == h
    changed = dataclasses.replace(a, sweep=dataclasses.replace(a.sweep, root_seed=12))
    assert spec_hash(changed) != h
    good["process"]["compression_degrees"] = [0.15, 0.31]
    assert spec_hash(parse_spec(good, base_dir=QUICK.parent)) != h


def test_spec_error_pickles() -> None:
    err = SpecError(["a.b: one", "c.d: two"])
    again = pickle.loads(pickle.dumps(err))
    assert again.problems == err.problems and str(again) == str(err)
    assert isinstance(err, ValueError)


# --------------------------------------------------------------------------------------------
# One problem at a time: field path and key words in a single line

Mutation = Callable[[dict[str, Any]], None]


def setter(*path: Any, value: Any) -> Mutation:
    return lambda d: set_at(d, path, value)


def remover(*path: Any) -> Mutation:
    return lambda d: del_at(d, path)


def add_formulation(name: str, first: str | None = None) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        if first is not None:
            d["formulations"][0]["name"] = first
        extra = dict(d["formulations"][0], name=name)
        d["formulations"].append(extra)
    return mutate


BAD_CASES: list[tuple[str, Mutation, str, list[str]]] = [
    # missing required fields and sections
    ("missing-name", remover("sweep", "name"), "sweep.name", ["required", "missing"]),
    ("missing-seed", remover("sweep", "root_seed"), "sweep.root_seed", ["required"]),
    ("missing-realisations", remover("sweep", "realisations"), "sweep.realisations",
     ["required"]),
    ("missing-output", remover("sweep", "output"), "sweep.output", ["required"]),
    ("missing-sweep", remover("sweep"), "sweep", ["required section", "root_seed"]),
    ("missing-formulations", remover("formulations"), "formulations", ["[[formulations]]"]),
    ("empty-formulations", setter("formulations", value=[]), "formulations", ["empty"]),
    ("formulations-as-table", setter("formulations", value={"name": "x"}), "formulations",
     ["[[formulations]]"]),
    ("missing-degrees", remover("process", "compression_degrees"),
     "process.compression_degrees", ["required"]),
    ("missing-formulation-field", remover("formulations", 0, "solid_content_percent"),
     "formulations[0].solid_content_percent", ["required"]),
    # unknown keys and sections, with did-you-mean
    ("unknown-key", setter("structure", "box", value=[1, 2, 3]), "structure.box",
     ["unknown", '"box_um"']),
    ("unknown-section", setter("proces", value={"x": 1}), "proces",
     ["unknown section", '"process"']),
    ("unknown-formulation-key", setter("formulations", 0, "am_mass_pct", value=1),
     "formulations[0].am_mass_pct", ["unknown", '"am_mass_percent"']),
    ("unknown-no-hint", setter("analysis", "zzzz", value=1), "analysis.zzzz",
     ["unknown", "voxel_size_um"]),
    ("unknown-top-key", setter("schema", value=1), "schema", ["unknown", '"schema_version"']),
    # wrong types
    ("bool-not-int", setter("sweep", "realisations", value=True), "sweep.realisations",
     ["true", "boolean", "integer"]),
    ("float-not-int", setter("cluster", "workers", value=2.0), "cluster.workers",
     ["2.0", "integer"]),
    ("string-not-number", setter("particles", "voxel_size_um", value="0.6"),
     "particles.voxel_size_um", ['"0.6"', "string", "number"]),
    ("bool-not-number", setter("structure", "am_density_g_cm3", value=False),
     "structure.am_density_g_cm3", ["boolean", "number"]),
    ("section-not-table", setter("cluster", value=3), "cluster", ["integer", "table"]),
    ("number-not-string", setter("sweep", "name", value=5), "sweep.name", ["5", "string"]),
    ("not-an-array", setter("process", "compression_degrees", value=0.3),
     "process.compression_degrees", ["0.3", "array"]),
    ("nan", setter("structure", "box_um", value=[float("nan"), 1.0, 1.0]),
     "structure.box_um[0]", ["nan", "finite"]),
    ("inf", setter("process", "slurry_pressure_Pa", value=float("inf")),
     "process.slurry_pressure_Pa", ["inf", "finite"]),
    ("schema-version", setter("schema_version", value=2), "schema_version", ["2", "1"]),
    # non-positive quantities
    ("box-negative", setter("structure", "box_um", 2, value=-5.0), "structure.box_um[2]",
     ["-5.0", "> 0"]),
    ("box-zero", setter("structure", "box_um", 0, value=0), "structure.box_um[0]", ["> 0"]),
    ("box-length", setter("structure", "box_um", value=[1.0, 2.0]), "structure.box_um",
     ["exactly 3"]),
    ("bead-slurry", setter("structure", "cbd_diameter_slurry_um", value=0),
     "structure.cbd_diameter_slurry_um", [">= 0.01"]),
    ("bead-dried", setter("structure", "cbd_diameter_dried_um", value=-1.3),
     "structure.cbd_diameter_dried_um", ["-1.3", ">= 0.01"]),
    ("bead-grows", setter("structure", "cbd_diameter_dried_um", value=7.0),
     "structure.cbd_diameter_dried_um", ["cbd_diameter_slurry_um", "shrinks"]),
    ("voxel-particles", setter("particles", "voxel_size_um", value=0),
     "particles.voxel_size_um", [">= 0.01"]),
    ("voxel-analysis", setter("analysis", "voxel_size_um", value=-0.25),
     "analysis.voxel_size_um", [">= 0.01"]),
    ("density-am", setter("structure", "am_density_g_cm3", value=0),
     "structure.am_density_g_cm3", [">= 0.1"]),
    ("density-cbd", setter("structure", "cbd_density_g_cm3", value=-1),
     "structure.cbd_density_g_cm3", [">= 0.1"]),
    ("slurry-steps", setter("numerics", "slurry_max_steps", value=0),
     "numerics.slurry_max_steps", [">= 1"]),
    ("drying-steps", setter("numerics", "drying_max_steps", value=-10),
     "numerics.drying_max_steps", [">= 1"]),
    ("relax-steps", setter("numerics", "relax_max_steps", value=0),
     "numerics.relax_max_steps", [">= 1"]),
    ("check-steps", setter("numerics", "check_steps", value=0), "numerics.check_steps",
     [">= 1"]),
    ("check-beyond-max", setter("numerics", "check_steps", value=15000),
     "numerics.check_steps", ["relax_max_steps", "10000"]),
    ("relax-check-zero", setter("numerics", "relax_check_steps", value=0),
     "numerics.relax_check_steps", [">= 1"]),
    ("relax-check-beyond-max", setter("numerics", "relax_check_steps", value=15000),
     "numerics.relax_check_steps", ["relax_max_steps", "10000"]),
    ("ranks-zero", setter("cluster", "ranks_per_realisation", value=0),
     "cluster.ranks_per_realisation", [">= 1"]),
    ("workers-zero", setter("cluster", "workers", value=0), "cluster.workers", [">= 1"]),
    ("realisations-zero", setter("sweep", "realisations", value=0), "sweep.realisations",
     [">= 1"]),
    ("count-zero", setter("particles", "count", value=0), "particles.count", [">= 1"]),
    ("min-voxels-zero", setter("particles", "min_voxels", value=0), "particles.min_voxels",
     [">= 1"]),
    ("speed-zero", setter("process", "calendering_speed_um_per_us", value=0),
     "process.calendering_speed_um_per_us", [">= 0.0001"]),
    ("temp-slurry", setter("process", "slurry_temperature_K", value=-300),
     "process.slurry_temperature_K", ["> 0", "kelvin"]),
    ("temp-drying", setter("process", "drying_temperature_K", value=0),
     "process.drying_temperature_K", ["> 0"]),
    ("temp-calendering", setter("process", "calendering_temperature_K", value=-1.0),
     "process.calendering_temperature_K", ["> 0"]),
    ("pressure", setter("process", "slurry_pressure_Pa", value=0), "process.slurry_pressure_Pa",
     ["> 0"]),
    # compression degrees
    ("degree-high", setter("process", "compression_degrees", value=[0.15, 0.95]),
     "process.compression_degrees[1]", ["0.95", "[0, 0.9]"]),
    ("degree-negative", setter("process", "compression_degrees", value=[-0.1]),
     "process.compression_degrees[0]", ["-0.1", "[0, 0.9]"]),
    ("degree-duplicate", setter("process", "compression_degrees", value=[0.15, 0.3, 0.15]),
     "process.compression_degrees[2]", ["duplicate", "compression_degrees[0]"]),
    ("degree-empty", setter("process", "compression_degrees", value=[]),
     "process.compression_degrees", ["at least one"]),
    # formulations
    ("mass-sum", setter("formulations", 0, "cbd_mass_percent", value=5.0), "formulations[0]",
     ["sum to 100", "96.0", "5.0"]),
    ("am-percent-zero", setter("formulations", 0, "am_mass_percent", value=0),
     "formulations[0].am_mass_percent", ["(0, 100)"]),
    ("cbd-percent-100", setter("formulations", 0, "cbd_mass_percent", value=100),
     "formulations[0].cbd_mass_percent", ["(0, 100)"]),
    ("solid-content", setter("formulations", 0, "solid_content_percent", value=100),
     "formulations[0].solid_content_percent", ["(0, 100)"]),
    ("porosity", setter("formulations", 0, "dried_porosity_percent", value=-4),
     "formulations[0].dried_porosity_percent", ["(0, 100)"]),
    ("duplicate-name", add_formulation("96-4"), "formulations[1].name",
     ["duplicates formulations[0].name"]),
    ("duplicate-name-case", add_formulation("aB", first="Ab"), "formulations[1].name",
     ["ignoring case"]),
    # seeds
    ("seed-zero", setter("sweep", "root_seed", value=0), "sweep.root_seed", ["900000000"]),
    ("seed-high", setter("sweep", "root_seed", value=900_000_001), "sweep.root_seed",
     ["900000001", "900000000"]),
    # cluster
    ("kind-typo", setter("cluster", "kind", value="slrum"), "cluster.kind",
     ['"slrum"', '"local", "slurm", "pbs"', 'did you mean "slurm"']),
    ("kind-case", setter("cluster", "kind", value="SLURM"), "cluster.kind",
     ['did you mean "slurm"']),
    ("ranks-over-cores", setter("cluster", "ranks_per_realisation", value=5),
     "cluster.ranks_per_realisation", ["5", "4 cores"]),
    ("walltime-word", setter("cluster", "walltime", value="1h"), "cluster.walltime",
     ['"1h"', "HH:MM:SS"]),
    ("walltime-minutes", setter("cluster", "walltime", value="01:60:00"), "cluster.walltime",
     ["HH:MM:SS"]),
    ("walltime-zero", setter("cluster", "walltime", value="00:00:00"), "cluster.walltime",
     ["non-zero"]),
    ("memory-unit", setter("cluster", "memory", value="4 gigs"), "cluster.memory",
     ['"4 gigs"', "GB"]),
    ("memory-zero", setter("cluster", "memory", value="0GB"), "cluster.memory", ["positive"]),
    ("directive-newline", setter("cluster", "job_extra_directives", value=["--a\nrm -rf /"]),
     "cluster.job_extra_directives[0]", ["without spaces"]),
    ("directive-space", setter("cluster", "job_extra_directives", value=["--comment=$(touch x)"]),
     "cluster.job_extra_directives[0]", ["without spaces"]),
    ("directive-not-option", setter("cluster", "job_extra_directives", value=["rm -rf /"]),
     "cluster.job_extra_directives[0]", ["'-'"]),
    ("directive-type", setter("cluster", "job_extra_directives", value=[3]),
     "cluster.job_extra_directives[0]", ["string"]),
    ("queue-hostile", setter("cluster", "queue", value="a; rm -rf /"), "cluster.queue",
     ["allowed"]),
    # particles
    ("source-typo", setter("particles", "source", value="databse"), "particles.source",
     ['did you mean "database"']),
    ("database-missing", setter("particles", "source", value="database"), "particles.database",
     ["required", '"database"']),
    ("database-absent-file", lambda d: d["particles"].update(source="database",
                                                             database="nope.db"),
     "particles.database", ["nope.db", "does not exist"]),
    ("database-with-synthetic", setter("particles", "database", value="x.db"),
     "particles.database", ['"synthetic"', "remove"]),
    ("range-order", setter("particles", "diameter_range_um", value=[7.0, 2.0]),
     "particles.diameter_range_um", ["smallest <= largest"]),
    ("range-positive", setter("particles", "diameter_range_um", value=[0.0, 2.0]),
     "particles.diameter_range_um[0]", [">= 0.1"]),
    ("range-length", setter("particles", "diameter_range_um", value=[1.0, 2.0, 3.0]),
     "particles.diameter_range_um", ["exactly 2"]),
    # structure
    ("shape", setter("structure", "shape", value="cube"), "structure.shape",
     ['"cube"', '"real", "sphere"']),
    ("downsample-zero", setter("structure", "downsample", value=0), "structure.downsample",
     [">= 1"]),
    ("downsample-float", setter("structure", "downsample", value=1.5), "structure.downsample",
     ["1.5", "integer"]),
    ("fraction-high", setter("structure", "am_volume_fraction", value=0.6),
     "structure.am_volume_fraction", ["0.6", "(0, 0.5]"]),
    ("fraction-zero", setter("structure", "am_volume_fraction", value=0),
     "structure.am_volume_fraction", ["(0, 0.5]"]),
    # analysis and numerics ranges
    ("cbd-as", setter("analysis", "cbd_as", value="air"), "analysis.cbd_as",
     ['"air"', '"solid", "pore"']),
    ("tolerance-one", setter("numerics", "tolerance", value=1), "numerics.tolerance",
     ["(0, 1)"]),
    ("tolerance-zero", setter("numerics", "tolerance", value=0.0), "numerics.tolerance",
     ["(0, 1)"]),
    ("timestep-zero", setter("numerics", "timestep_fraction", value=0),
     "numerics.timestep_fraction", [">= 0.001", "[0.001, 1]"]),
    ("timestep-high", setter("numerics", "timestep_fraction", value=1.5),
     "numerics.timestep_fraction", ["<= 1", "[0.001, 1]"]),
    # force fields
    ("forcefield-name", setter("numerics", "forcefield_slurry", value="Slurry!"),
     "numerics.forcefield_slurry", ['"Slurry!"', "shipped parameter set", ".toml"]),
    ("forcefield-hostile", setter("numerics", "forcefield_dried", value="$(id)"),
     "numerics.forcefield_dried", ['"$(id)"']),
    ("forcefield-path-missing", setter("numerics", "forcefield_dried", value="../none.toml"),
     "numerics.forcefield_dried", ["does not exist"]),
    # target PSD table
    ("psd-file-missing", setter("structure", "psd_table", value="none.csv"),
     "structure.psd_table", ['"none.csv"', "does not exist", "spec's folder"]),
    ("psd-not-increasing", setter("structure", "psd_table", value=[[4.0, 0.5], [2.0, 0.5]]),
     "structure.psd_table[1]", ["strictly increasing"]),
    ("psd-non-positive-diameter", setter("structure", "psd_table", value=[[0.0, 1.0]]),
     "structure.psd_table[0]", ["diameter_um", "> 0"]),
    ("psd-fraction-sum", setter("structure", "psd_table", value=[[2.0, 0.5], [4.0, 0.2]]),
     "structure.psd_table", ["sum to 0.7", "must sum to 1"]),
    ("psd-row-type", setter("structure", "psd_table", value=[[2.0, "0.5"]]),
     "structure.psd_table[0]", ["two numbers"]),
    ("psd-wrong-type", setter("structure", "psd_table", value=3),
     "structure.psd_table", ["CSV path", "diameter_um"]),
    ("psd-sampling", setter("structure", "psd_sampling", value="stratifed"),
     "structure.psd_sampling", ['"independent"', 'did you mean "stratified"']),
]


@pytest.mark.parametrize("mutate, field, words", [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])
def test_one_bad_input_one_line(good: dict[str, Any], mutate: Mutation, field: str,
                                words: list[str]) -> None:
    mutate(good)
    problems = problems_of(good, base_dir=QUICK.parent)
    assert len(problems) == 1, problems
    line = problems[0]
    assert line.startswith(field + ": "), line
    for word in words:
        assert word in line, (word, line)


HOSTILE_NAMES = ["; rm -rf /", "../x", "$(id)", "", "a/b", "a b", ".hidden", "-rf", "x" * 65,
                 "name\n", "\u00e9t\u00e9", "`id`", "a\\b", "*"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("where", [("sweep", "name"), ("formulations", 0, "name")])
def test_hostile_names_rejected(good: dict[str, Any], name: str, where: tuple[Any, ...]) -> None:
    set_at(good, where, name)
    problems = problems_of(good)
    assert len(problems) == 1
    assert problems[0].startswith(".".join(str(k) for k in where).replace(".0.", "[0].") + ": ")
    assert "allowed" in problems[0]


@pytest.mark.parametrize("name", ["a", "96-4", "A.b_c-9", "x" * 64])
def test_good_names_accepted(good: dict[str, Any], name: str) -> None:
    good["sweep"]["name"] = name
    good["formulations"][0]["name"] = name
    assert parse_spec(good, base_dir=Path.cwd()).sweep.name == name


def test_hostile_unknown_key_stays_on_one_line(good: dict[str, Any]) -> None:
    good["sweep"]["evil\nkey\u2028x"] = 1
    problems = problems_of(good)
    assert len(problems) == 1 and "unknown" in problems[0]


# --------------------------------------------------------------------------------------------
# Collection, files, the store check, cores and force fields


def test_all_problems_collected(good: dict[str, Any]) -> None:
    good["structure"]["box_um"][2] = -1.0
    good["cluster"]["kind"] = "slrum"
    good["formulations"][0]["name"] = "$(id)"
    problems = problems_of(good)
    assert len(problems) == 3
    assert [p.split(":")[0] for p in problems] == [
        "cluster.kind", "structure.box_um[2]", "formulations[0].name"]


def test_file_with_three_errors_reports_three_lines(tmp_path: Path) -> None:
    text = QUICK.read_text()
    text = text.replace("realisations = 2", "realisations = 0")
    text = text.replace("downsample = 2 ", "downsample = 0 ")
    text = text.replace('cbd_as = "solid"', 'cbd_as = "liquid"')
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    lines = str(info.value).split("\n")
    assert len(lines) == 3
    # Compiler-style: each line names the file, then the field.
    assert lines[0].startswith(f"{bad}: sweep.realisations: ")
    assert lines[1].startswith(f"{bad}: structure.downsample: ")
    assert lines[2].startswith(f"{bad}: analysis.cbd_as: ")


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text('schema_version = 1\n[sweep]\nname = \n')
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    (line,) = info.value.problems
    assert "TOML" in line and "line 3" in line and str(bad) in line


def test_duplicate_toml_key_is_a_syntax_error(tmp_path: Path) -> None:
    bad = tmp_path / "dup.toml"
    bad.write_text('[sweep]\nname = "a"\nname = "b"\n')
    with pytest.raises(SpecError, match="line 3"):
        load_spec(bad)


def test_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec("no/such/spec.toml")
    (line,) = info.value.problems
    assert "no/such/spec.toml" in line and "not found" in line


def test_spec_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "latin.toml"
    bad.write_bytes(b'[sweep]\nname = "\xe9"\n')
    with pytest.raises(SpecError, match="UTF-8"):
        load_spec(bad)


def _store(path: Path, attributes: Any) -> None:
    path.mkdir()
    (path / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group",
                                                "attributes": attributes}))


def test_is_mesosweep_store(tmp_path: Path) -> None:
    _store(tmp_path / "ours.zarr", {"mesosweep_version": "0.1.0"})
    _store(tmp_path / "theirs.zarr", {"other": 1})
    _store(tmp_path / "odd.zarr", ["mesosweep_version"])
    (tmp_path / "garbage.zarr").mkdir()
    (tmp_path / "garbage.zarr" / "zarr.json").write_text("{not json")
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    assert is_mesosweep_store(tmp_path / "ours.zarr")
    for name in ["theirs.zarr", "odd.zarr", "garbage.zarr", "empty", "file", "missing"]:
        assert not is_mesosweep_store(tmp_path / name), name


def test_output_existing_store_is_accepted(good: dict[str, Any], tmp_path: Path) -> None:
    _store(tmp_path / "quick.zarr", {"mesosweep_version": "0.1.0"})
    assert parse_spec(good, base_dir=QUICK.parent).sweep.output == tmp_path / "quick.zarr"


@pytest.mark.parametrize("make", [
    lambda p: p.mkdir(),
    lambda p: p.write_text("precious"),
    lambda p: _store(p, {"not_ours": True}),
], ids=["empty-dir", "file", "foreign-zarr"])
def test_output_existing_non_store_is_refused(good: dict[str, Any], tmp_path: Path,
                                              make: Callable[[Path], None]) -> None:
    make(tmp_path / "quick.zarr")
    (line,) = problems_of(good, base_dir=QUICK.parent)
    assert line.startswith("sweep.output: ")
    # It may be someone's data: move it, never "remove it".
    assert "not a mesosweep store" in line and "choose another output, or move it away" in line
    assert "remove" not in line


def test_output_relative_to_cwd_not_spec_folder(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    copy_ = spec_dir / "q.toml"
    copy_.write_text(QUICK.read_text())
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.chdir(run_dir)
    assert load_spec(copy_).sweep.output == run_dir / "quick.zarr"


def test_ranks_over_cores_allowed_on_batch_clusters(good: dict[str, Any]) -> None:
    good["cluster"].update(kind="slurm", ranks_per_realisation=28)
    assert parse_spec(good, base_dir=Path.cwd()).cluster.ranks_per_realisation == 28


def test_local_oversubscription_allowed(good: dict[str, Any]) -> None:
    # 3 workers x 4 ranks on 4 cores: allowed (documented as oversubscription).
    good["cluster"].update(workers=3, ranks_per_realisation=4)
    assert parse_spec(good, base_dir=Path.cwd()).cluster.workers == 3


def test_database_source(good: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    _tiny_database(tmp_path / "specs" / "particles.db")
    good["particles"].update(source="database", database="particles.db")
    # Input paths are taken from the spec's folder (base_dir).
    spec = parse_spec(good, base_dir=tmp_path / "specs")
    assert spec.particles.database == tmp_path / "specs" / "particles.db"


def test_forcefield_path_accepted(good: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text("")
    good["numerics"]["forcefield_slurry"] = "./mine.toml"
    spec = parse_spec(good, base_dir=tmp_path)
    assert spec.numerics.forcefield_slurry == str(tmp_path / "mine.toml")
    assert resolve_forcefield(spec.numerics.forcefield_slurry) == tmp_path / "mine.toml"


def test_forcefield_path_must_be_toml(good: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("")
    good["numerics"]["forcefield_slurry"] = "./mine.txt"
    (line,) = problems_of(good, base_dir=tmp_path)
    assert line.startswith("numerics.forcefield_slurry: ") and ".toml" in line


def test_forcefield_name_need_not_be_shipped_yet(good: dict[str, Any]) -> None:
    good["numerics"]["forcefield_slurry"] = "not_shipped_yet"
    spec = parse_spec(good, base_dir=Path.cwd())
    assert spec.numerics.forcefield_slurry == "not_shipped_yet"


def test_resolve_forcefield(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = tmp_path / "params"
    params.mkdir()
    (params / "slurry.toml").write_text("")
    monkeypatch.setattr(spec_mod, "_params_dir", lambda: params)
    assert resolve_forcefield("slurry") == params / "slurry.toml"
    with pytest.raises(SpecError) as info:
        resolve_forcefield("slury", field="numerics.forcefield_slurry")
    (line,) = info.value.problems
    assert line.startswith("numerics.forcefield_slurry: ") and 'did you mean "slurry"' in line
    with pytest.raises(SpecError, match="does not exist"):
        resolve_forcefield(tmp_path / "absent.toml")
    with pytest.raises(SpecError, match="shipped parameter set"):
        resolve_forcefield("$(id)")


def test_shipped_params_dir_is_beside_stages() -> None:
    import mesosweep.stages

    assert spec_mod._params_dir() == Path(mesosweep.stages.__file__).parent / "params"


def test_spec_dataclasses_are_frozen(good: dict[str, Any]) -> None:
    spec: Spec = parse_spec(good, base_dir=Path.cwd())
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.sweep.name = "x"  # type: ignore[misc]


def test_psd_table_file_and_inline(good: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "psd.csv").write_text("diameter_um,number_fraction\n3.0,0.4\n6.0,0.6\n")
    good["structure"]["psd_table"] = "psd.csv"
    # Taken from the spec's folder, stored absolute, and survives the canonical round trip.
    spec = parse_spec(good, base_dir=tmp_path / "specs")
    assert spec.structure.psd_table == tmp_path / "specs" / "psd.csv"
    assert parse_spec(spec_to_dict(spec), base_dir=tmp_path) == spec
    good["structure"]["psd_table"] = [[3.0, 0.4], [6, 0.6]]
    inline = parse_spec(good, base_dir=tmp_path)
    assert inline.structure.psd_table == ((3.0, 0.4), (6.0, 0.6))
    assert parse_spec(json.loads(canonical_json(inline)), base_dir=tmp_path) == inline
    good["structure"]["psd_table"] = [[3.0, 0.5], [6, 0.5]]
    assert spec_hash(parse_spec(good, base_dir=tmp_path)) != spec_hash(inline)
    del good["structure"]["psd_table"]
    default = parse_spec(good, base_dir=tmp_path).structure
    assert default.psd_table is None and default.psd_sampling == "independent"


def test_spec_and_builder_agree_on_psd_samplings() -> None:
    from mesosweep.ensemble.schema import PSD_SAMPLINGS as SPEC_PSD_SAMPLINGS
    from mesosweep.stages.structure import PSD_SAMPLINGS

    assert SPEC_PSD_SAMPLINGS == PSD_SAMPLINGS


def test_bad_psd_file_names_the_line(good: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "psd.csv").write_text("diameter_um,number_fraction\n3.0,0.4\n-6.0,0.6\n")
    good["structure"]["psd_table"] = "psd.csv"
    (line,) = problems_of(good, base_dir=tmp_path)
    assert line.startswith("structure.psd_table: ") and "line 3" in line and "> 0" in line
