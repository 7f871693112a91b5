"""Bad input of every kind is refused before anything is written.

Each case runs the ``mesosweep`` command in-process from an empty folder and checks what a user
sees: exit status 2, each problem on one line naming the field (or option), the value and what
is allowed, no traceback, and the folder left as it was. ``docs/reliability.md`` lists the cases.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mesosweep.cli import main

REPO = Path(__file__).resolve().parents[1]
QUICK = REPO / "sweeps" / "quick.toml"


@pytest.fixture(autouse=True)
def _in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative outputs land in the current folder: an empty one, so "nothing written" is seen.
    monkeypatch.chdir(tmp_path)


def quick_with(folder: Path, changes: dict[str, str], name: str = "s.toml") -> Path:
    """The quick sweep with ``changes`` ("section.key" -> TOML value text) written to a file."""
    text = QUICK.read_text(encoding="utf-8")
    for dotted, value in changes.items():
        section, key = dotted.rsplit(".", 1)
        header = re.search(rf"^\[+{re.escape(section)}\]+[ \t]*$", text, re.M)
        assert header, dotted
        start = header.end()
        following = re.search(r"^\[", text[start:], re.M)
        end = start + following.start() if following else len(text)
        body, line = text[start:end], re.compile(rf"^{re.escape(key)}[ \t]*=.*$", re.M)
        setting = f"{key} = {value}"
        body = line.sub(lambda _, s=setting: s, body) if line.search(body) else (
            f"\n{setting}" + body)
        text = text[:start] + body + text[end:]
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], *, keep: tuple[str, ...] = ()
            ) -> list[str]:
    """Run ``mesosweep argv``: it must exit with status 2 and no traceback, and write nothing
    in the current folder (``keep``: files the test itself made there). Returns stderr's lines."""
    folder = Path.cwd()
    before = _tree(folder)
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        status = exc.code
    out, err = capsys.readouterr()
    assert status == 2, (status, out, err)
    assert "Traceback" not in err and "Error:" not in err, err
    assert _tree(folder) == before, "something was written"
    return err.strip().splitlines()


def check_refuses(spec: Path, capsys: pytest.CaptureFixture[str], field: str,
                  words: list[str]) -> str:
    """``run SPEC --check`` refuses the spec with one line for ``field`` holding ``words``
    (the one naming ``field`` and the first word, when the field has several problems)."""
    lines = refused(["run", str(spec), "--check"], capsys)
    hits = [line for line in lines if (f": {field}:" in line or line.startswith(f"{field}:"))
            and words[0] in line]
    assert len(hits) == 1, lines
    for word in words:
        assert word in hits[0], (word, hits[0])
    return hits[0]


# --------------------------------------------------------------------------------------------
# The spec file itself


def test_a_byte_order_mark_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    spec = tmp_path / "bom.toml"
    spec.write_bytes(b"\xef\xbb\xbf" + QUICK.read_bytes())
    assert main(["run", str(spec), "--check"]) == 0
    assert "valid" in capsys.readouterr().out


@pytest.mark.parametrize("make, words", [
    (lambda p: "/dev/zero", ["not a regular file"]),
    (lambda p: (os.mkfifo(p / "fifo.toml"), p / "fifo.toml")[1], ["not a regular file"]),
    (lambda p: (p / "deep.toml").write_text("x = " + "[" * 600 + "]" * 600) and p / "deep.toml",
     ["nested too deeply"]),
    (lambda p: (p / "d.toml").write_text("x = " + "[" * 20 + "]" * 20) and p / "d.toml",
     ["nested more than 8 levels deep"]),
    (lambda p: (p / "big.toml").write_text("# " + "x" * 2_000_000) and p / "big.toml",
     ["larger than 1024 KiB"]),
    (lambda p: "spec\x00.toml", ["NUL byte"]),
    (lambda p: (p / "latin1.toml").write_bytes(b"# caf\xe9\n") and p / "latin1.toml",
     ["not UTF-8", "byte 5"]),
], ids=["dev-zero", "fifo", "nested-600", "nested-20", "too-large", "nul-in-path", "latin-1"])
def test_a_spec_that_is_no_spec_is_refused_at_once(make, words, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    spec = make(tmp_path)
    lines = refused(["run", str(spec), "--check"], capsys)
    assert lines[0] == "mesosweep: invalid sweep spec" and len(lines) == 2, lines
    for word in words:
        assert word in lines[1], (word, lines)


# --------------------------------------------------------------------------------------------
# Physical quantities bounded by what the model can represent


@pytest.mark.parametrize("changes, field, words", [
    ({"sweep.realisations": "1_000_000_000_000"}, "sweep.realisations",
     ["1000000000000", "<= 10000"]),
    ({"structure.box_um": "[1e9, 1e9, 1e9]"}, "structure.box_um[0]", ["1000000000.0", "10000"]),
    ({"particles.voxel_size_um": "1e-6"}, "particles.voxel_size_um", ["1e-06", ">= 0.01"]),
    ({"particles.count": "1_000_000_000"}, "particles.count", ["1000000000", "<= 100000"]),
    ({"particles.min_voxels": "1_000_000_000_000"}, "particles.min_voxels", ["<= 1000000000"]),
    ({"particles.diameter_range_um": "[1e-9, 7.0]"}, "particles.diameter_range_um[0]",
     [">= 0.1"]),
    ({"process.calendering_speed_um_per_us": "1e-300"}, "process.calendering_speed_um_per_us",
     ["1e-300", ">= 0.0001"]),
    ({"process.calendering_speed_um_per_us": "1e308"}, "process.calendering_speed_um_per_us",
     ["1e+308", "<= 1000"]),
    ({"numerics.timestep_fraction": "1e-300"}, "numerics.timestep_fraction",
     ["1e-300", ">= 0.001"]),
    ({"process.slurry_temperature_K": "1e308"}, "process.slurry_temperature_K", ["<= 2000"]),
    ({"process.slurry_pressure_Pa": "1e308"}, "process.slurry_pressure_Pa", ["<= 1000000000"]),
    ({"structure.am_density_g_cm3": "1e-300"}, "structure.am_density_g_cm3", [">= 0.1"]),
    ({"structure.cbd_diameter_dried_um": "1e-300"}, "structure.cbd_diameter_dried_um",
     [">= 0.01"]),
    ({"structure.downsample": "1000"}, "structure.downsample", ["<= 16"]),
    ({"analysis.voxel_size_um": "1e-300"}, "analysis.voxel_size_um", [">= 0.01"]),
    ({"numerics.slurry_max_steps": "10_000_000_000"}, "numerics.slurry_max_steps",
     ["2147483647", "2^31"]),
    ({"cluster.max_attempts": "1_000_000"}, "cluster.max_attempts", ["<= 100"]),
    ({"sweep.realisations": "10000", "process.compression_degrees":
      "[" + ", ".join(f"{0.005 * i:.3f}" for i in range(1, 101)) + "]"}, "sweep.realisations",
     ["1,010,000 results per metric", "split the sweep"]),
], ids=["realisations", "box", "voxel", "count", "min-voxels", "diameter", "speed-tiny",
        "speed-huge", "timestep-tiny", "temperature", "pressure", "density", "cbd-bead",
        "downsample", "analysis-voxel", "steps-int32", "attempts", "plan-beyond-the-store"])
def test_quantities_beyond_the_model_are_refused(changes, field, words, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    check_refuses(quick_with(tmp_path, changes), capsys, field, words)


# --------------------------------------------------------------------------------------------
# Where the results would go


def _file_at(path: Path) -> Path:
    path.write_text("someone's data")
    return path


@pytest.mark.parametrize("output, words", [
    (lambda p: "/proc/x.zarr", ["on proc", "kernel"]),
    (lambda p: "/sys/kernel/x.zarr", ["on sysfs"]),
    (lambda p: str(_file_at(p / "notes.txt") / "x.zarr"), ["notes.txt", "is a file, not a folder"]),
    (lambda p: "a" * 300 + ".zarr", ["longer than the 255 bytes"]),
    (lambda p: "x\\u0000.zarr", ["NUL byte"]),
    (lambda p: (_file_at(p / "quick.work"), "quick.zarr")[1],
     ["work folder", "quick.work", "not a folder"]),
    (lambda p: str(_file_at(p / "precious.zarr")), ["not a mesosweep store", "move it away"]),
], ids=["proc", "sys", "under-a-file", "name-too-long", "nul", "work-folder-a-file", "a-file"])
def test_an_output_that_cannot_be_a_store_is_refused(output, words, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    spec = quick_with(tmp_path, {"sweep.output": f'"{output(tmp_path)}"'})
    check_refuses(spec, capsys, "sweep.output", words)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_output_in_a_read_only_folder_is_refused(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    spec = quick_with(tmp_path, {"sweep.output": f'"{locked}/x.zarr"'})
    check_refuses(spec, capsys, "sweep.output", ["cannot create anything", "locked"])


def _damaged_store(path: Path) -> Path:
    """A sweep store's folders whose root zarr.json was cut short (the arrays are intact)."""
    (path / "status").mkdir(parents=True)
    (path / "status" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "array"}')
    (path / "zarr.json").write_text('{"zarr_format": 3, "attributes": {"mesosweep_ver')
    return path


def test_a_store_with_damaged_metadata_is_named_and_never_offered_for_removal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _damaged_store(tmp_path / "quick.zarr")
    spec = quick_with(tmp_path, {})
    line = check_refuses(spec, capsys, "sweep.output", ["root metadata", "data may be intact"])
    assert "remove" not in line
    for command in (["status", str(store)], ["report", str(store), "-o", "rep"]):
        (line,) = refused(command, capsys)
        assert "root metadata" in line and "data may be intact" in line and "remove" not in line


# --------------------------------------------------------------------------------------------
# The particle database


@pytest.mark.parametrize("database, words", [
    (lambda p: "/etc/passwd", ["/etc/passwd", "not a particle database", "not an .npz"]),
    (lambda p: str(p), ["is not a file"]),
    (lambda p: (_file_at(p / "v.npy").write_bytes(b"\x93NUMPY\x01\x00"), p / "v.npy")[1],
     ["single array"]),
], ids=["text-file", "folder", "npy"])
def test_a_database_that_is_none_is_refused(database, words, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    spec = quick_with(tmp_path, {"particles.source": '"database"',
                                 "particles.database": f'"{database(tmp_path)}"'})
    check_refuses(spec, capsys, "particles.database", words)


@pytest.mark.parametrize("changes, field, words", [
    ({"particles.diameter_range_um": "[1.0, 1.0]"}, "particles.diameter_range_um",
     ["1.56 voxels across", "erodes it away"]),
    ({"particles.min_voxels": "100000"}, "particles.min_voxels",
     ["100000", "about 679 voxels", "dropped as a fragment"]),
], ids=["sub-voxel-particles", "min-voxels-above-the-largest"])
def test_synthetic_particles_that_the_separation_would_drop_are_refused(
        changes, field, words, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check_refuses(quick_with(tmp_path, changes), capsys, field, words)


# --------------------------------------------------------------------------------------------
# Force-field files


def _shipped_slurry() -> str:
    return (REPO / "stages" / "params" / "slurry.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("make, words", [
    (lambda p: (p / "ff.toml").write_bytes(b"# caf\xe9\n" + _shipped_slurry().encode()),
     ["ff.toml", "not UTF-8", "byte 5"]),
    (lambda p: ((p / "sub.toml").mkdir(),
                (p / "ff.toml").write_text('schema_version = 1\nbase = "sub"\n')),
     ["base = 'sub'", "is a folder"]),
    (lambda p: (os.mkfifo(p / "sub.toml"),
                (p / "ff.toml").write_text('schema_version = 1\nbase = "sub"\n')),
     ["base = 'sub'", "not a regular file"]),
    (lambda p: (p / "ff.toml").write_text(
        _shipped_slurry().replace("youngs_modulus_GPa = 135.0", "youngs_modulus_GPa = 1e308")),
     ["materials.am.youngs_modulus_GPa = 1e+308", "<= 2000"]),
], ids=["latin-1", "base-is-a-folder", "base-is-a-fifo", "modulus-at-float-limit"])
def test_a_bad_force_field_file_is_one_line(make, words, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    make(tmp_path)
    spec = quick_with(tmp_path, {"numerics.forcefield_slurry": f'"{tmp_path / "ff.toml"}"'})
    line = check_refuses(spec, capsys, "numerics.forcefield_slurry", words)
    assert "Error" not in line


# --------------------------------------------------------------------------------------------
# Work that cannot finish: estimated before anything runs


@pytest.fixture
def machine_of_16_gib(monkeypatch: pytest.MonkeyPatch) -> None:
    from mesosweep.ensemble import workload

    monkeypatch.setattr(workload, "machine_memory_bytes", lambda: 16 * 1024**3)


@pytest.mark.parametrize("changes, field, words", [
    ({"structure.box_um": "[10000.0, 10000.0, 10000.0]"}, "structure",
     ["2,147,483,647 LAMMPS can number", "32,541,527,108 beads", "structure.box_um"]),
    ({"particles.count": "100000", "particles.diameter_range_um": "[100.0, 100.0]",
      "particles.voxel_size_um": "0.5", "structure.box_um": "[200.0, 200.0, 200.0]"},
     "particles", ["837,758,040,958 voxels", "this machine's 16 GiB", "particles.count"]),
    ({"process.calendering_speed_um_per_us": "0.0001", "numerics.timestep_fraction": "0.001"},
     "process.calendering_speed_um_per_us", ["692,285,959,563 steps", "2,147,483,647"]),
    ({"cluster.kind": '"slurm"', "cluster.memory": '"300MB"', "analysis.voxel_size_um": "0.01"},
     "structure", ["1,998,341,997 voxels", 'cluster.memory = "300MB"', "raise cluster.memory"]),
    ({"analysis.voxel_size_um": "0.01"}, "structure",
     ["2 at once", "this machine's 16 GiB", "analysis.voxel_size_um"]),
    ({"structure.psd_table": "[[1e6, 1.0]]"}, "structure.psd_table",
     ["1000000.0", "[0.1, 500]"]),
    ({"structure.psd_table": "[[20.0, 1.0]]"}, "structure.psd_table",
     ["20.0", "smallest edge of box_um (16.0 um)"]),
    ({"structure.box_um": "[5.0, 16.0, 64.0]"}, "structure.box_um",
     ["[5.0, 16.0, 64.0]", "largest particle", "7 um"]),
], ids=["beads-beyond-lammps", "synthetic-volume", "plane-steps", "job-memory",
        "machine-memory", "psd-class-huge", "psd-class-wider-than-box", "box-narrower"])
def test_work_that_cannot_finish_is_refused_with_its_estimate(
        changes, field, words, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        machine_of_16_gib: None) -> None:
    check_refuses(quick_with(tmp_path, changes), capsys, field, words)


def test_check_prints_the_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(QUICK), "--check"]) == 0
    out = capsys.readouterr().out
    assert "each realisation: about 533 beads (387 AM, 146 CBD)" in out, out


# --------------------------------------------------------------------------------------------
# Command lines


@pytest.mark.parametrize("argv", [["spec", "schema"], ["run", str(QUICK), "--check"]],
                         ids=["spec-schema", "run-check"])
def test_a_reader_that_goes_away_ends_the_command_quietly(argv: list[str]) -> None:
    """`mesosweep status STORE | head`: the pipe closes, the command ends without a word."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "mesosweep.cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == "", err


def _report_store(path: Path) -> Path:
    """Enough of a sweep store for the report command to accept it as one."""
    path.mkdir()
    (path / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", '
                                    '"attributes": {"mesosweep_version": "0"}}')
    return path


@pytest.mark.parametrize("output, words", [
    (lambda p: (p / "old").mkdir() or (p / "old" / "index.html").write_text("x") and "old",
     ["already holds a report", "--force"]),
    (lambda p: "quick.zarr/report", ["lies in the zarr store", "quick.zarr"]),
    (lambda p: "quick.zarr", ["lies in the zarr store"]),
    (lambda p: _file_at(p / "notes.txt").name, ["exists and is not a folder"]),
], ids=["existing-report", "inside-the-store", "the-store-itself", "a-file"])
def test_report_refuses_an_output_it_would_spoil_before_drawing(
        output, words, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _report_store(tmp_path / "quick.zarr")
    (line,) = refused(["report", str(store), "-o", output(tmp_path)], capsys)
    for word in words:
        assert word in line, (word, line)
