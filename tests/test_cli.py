"""The command line: help, and bad input refused before anything runs or is written."""

import os
import re

import pytest

from mesosweep.cli import main
from tests.conftest import REPO

QUICK = (REPO / "sweeps" / "quick.toml").read_text()


def test_help_names_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "run" in out and "particles" in out and "docs/spec.md" in out


# (what to change in sweeps/quick.toml, words the one-line error must contain)
BAD = {
    "missing required field": (("realisations = 2\n", ""), ["sweep.realisations", "required"]),
    "unknown key": (("realisations = 2", "realisations = 2\nrealisatons = 3"),
                    ["realisatons", "realisations"]),
    "non-positive box": (("box_um = [16.0, 16.0, 64.0]", "box_um = [16.0, -1.0, 64.0]"),
                         ["structure.box_um[1]", "-1"]),
    "non-positive bead size": (("cbd_diameter_dried_um = 1.3", "cbd_diameter_dried_um = 0.0"),
                               ["structure.cbd_diameter_dried_um"]),
    "non-positive step count": (("check_steps = 500", "check_steps = 0"), ["numerics.check_steps"]),
    "non-positive rank count": (("ranks_per_realisation = 1", "ranks_per_realisation = 0"),
                                ["cluster.ranks_per_realisation"]),
    "compression degree out of range": (("[0.15, 0.30]", "[0.15, 0.95]"),
                                        ["process.compression_degrees[1]", "0.95"]),
    "fractions not summing to 100": (("cbd_mass_percent = 4.0", "cbd_mass_percent = 5.0"),
                                     ["100"]),
    "seed outside LAMMPS range": (("root_seed = 20251125", "root_seed = 900000001"),
                                  ["sweep.root_seed", "900000000"]),
    "more ranks than cores": (("ranks_per_realisation = 1",
                               f"ranks_per_realisation = {(os.cpu_count() or 1) + 1}"),
                              ["cluster.ranks_per_realisation", "cores"]),
    "unknown cluster kind": (('kind = "local"', 'kind = "slurmm"'), ["cluster.kind", "slurm"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_spec_is_refused_in_one_line_and_leaves_nothing(case, tmp_path, monkeypatch, capsys):
    (old, new), words = BAD[case]
    assert old in QUICK, f"test setup: {old!r} not in quick.toml"
    spec = tmp_path / "bad.toml"
    spec.write_text(QUICK.replace(old, new, 1))
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    problems = err[1:]  # first line says the spec is invalid
    assert len(problems) == 1, err
    for word in words:
        assert word in problems[0], (word, problems[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]  # nothing written


def test_output_that_is_not_a_store_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quick.zarr").mkdir()
    (tmp_path / "quick.zarr" / "notes.txt").write_text("precious")
    spec = tmp_path / "q.toml"
    spec.write_text(QUICK)
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"sweep\.output.*not a mesosweep store", err)
    assert (tmp_path / "quick.zarr" / "notes.txt").read_text() == "precious"
    assert not (tmp_path / "quick.work").exists()


def test_check_validates_without_writing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(REPO / "sweeps" / "quick.toml"), "--check"]) == 0
    assert "valid" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_bad_parameter_file_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    dried = (REPO / "stages" / "params" / "dried.toml").read_text()
    slurry = (REPO / "stages" / "params" / "slurry.toml").read_text()
    (tmp_path / "bad-dried.toml").write_text(dried.replace("youngs_modulus_GPa = 2.0",
                                                           "youngs_modulus_GPa = -2.0"))
    # A dried set (no barostat) named as the slurry's: NPT needs the barostat's values.
    (tmp_path / "no-barostat.toml").write_text(dried)
    assert "barostat_modulus_GPa" in slurry and "barostat_modulus_GPa" not in dried
    spec = tmp_path / "ff.toml"
    spec.write_text(QUICK.replace('forcefield_dried = "dried"',
                                  'forcefield_dried = "bad-dried.toml"')
                    .replace('forcefield_slurry = "slurry"',
                             'forcefield_slurry = "no-barostat.toml"'))
    for extra in (["--check"], []):
        assert main(["run", str(spec), *extra]) == 2
        err = capsys.readouterr().err
        assert re.search(r"numerics\.forcefield_dried: .*materials\.cbd\.youngs_modulus_GPa", err)
        assert re.search(r"numerics\.forcefield_slurry: .*barostat_modulus_GPa", err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad-dried.toml", "ff.toml",
                                                          "no-barostat.toml"]


def test_log_lines_carry_their_time_and_the_verbosity_flags_choose_them(capsys):
    import logging

    from mesosweep.cli import _parser, terminal_log

    log = logging.getLogger("mesosweep.sweep")
    for verbosity, shown in ((0, ["info", "warning"]), (1, ["debug", "info", "warning"]),
                             (-1, ["warning"]), (-2, []), (-5, [])):
        with terminal_log(verbosity):
            log.debug("debug")
            log.info("info")
            log.warning("warning")
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[-1] for line in lines] == shown, verbosity
        for line in lines:
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (WARNING: )?\w+", line), line
    log.info("after the command")  # the handler is gone with the command
    assert capsys.readouterr().out == ""
    # The flags go before or after the command, as people type them.
    parser = _parser()[0]
    assert parser.parse_args(["-v", "run", "x.toml"]).verbose == 1
    assert parser.parse_args(["run", "x.toml", "-v"]).verbose == 1
    args = parser.parse_args(["status", "s.zarr", "-qq"])
    assert (args.verbose, args.quiet) == (0, 2)
