"""Bad XCT volumes and bad requests of `particles build` and `xct measure`, refused before any
work: one line naming the file or option, exit status 2, no traceback, nothing written
(``docs/reliability.md`` lists the cases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from mesosweep.cli import main
from tests.test_bad_input import refused


@pytest.fixture(autouse=True)
def _in_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _particles() -> np.ndarray:
    """Label image: a few separated cubes of AM (1) in pore (0)."""
    volume = np.zeros((24, 24, 24), np.uint8)
    for x, y, z in ((4, 4, 4), (14, 4, 10), (4, 14, 14), (14, 14, 4)):
        volume[x:x + 6, y:y + 6, z:z + 6] = 1
    return volume


def _npy(name: str, array: np.ndarray) -> str:
    np.save(name, array, allow_pickle=array.dtype.hasobject)
    return name


def _lying_header(name: str) -> str:
    """A .npy whose header promises more voxels than the file holds (truncated or edited)."""
    raw = Path(_npy(name, _particles())).read_bytes()
    Path(name).write_bytes(raw.replace(b"(24, 24, 24)", b"(99, 99, 99)", 1))
    return name


def _rgb_tiff(name: str) -> str:
    tifffile.imwrite(name, np.zeros((16, 16, 3), np.uint8), photometric="rgb")
    return name


def _nan_grey(name: str) -> str:
    grey = _particles().astype(np.float32)
    grey[0, 0, 0] = np.nan
    return _npy(name, grey)


def _raw(name: str, nbytes: int) -> str:
    Path(name).write_bytes(b"\0" * nbytes)
    return name


BUILD = ["particles", "build"]


@pytest.mark.parametrize("make, options, words", [
    (lambda: _npy("empty.npy", np.zeros((0, 0, 0), np.uint8)), ["--am-label", "1"],
     ["holds no voxels"]),
    (lambda: _npy("one.npy", np.ones((1, 1, 1), np.uint8)), ["--am-label", "1"],
     ["1 x 1 x 1 voxels", "at least 3 voxels"]),
    (lambda: _lying_header("lying.npy"), ["--am-label", "1"],
     ["header promises shape (99, 99, 99)", "holds 13824"]),
    (lambda: _npy("objects.npy", np.array([[[{"a": 1}]]], dtype=object)), ["--am-label", "1"],
     ["Python objects"]),
    (lambda: _npy("strings.npy", np.zeros((4, 4, 4), "S1")), ["--am-label", "1"],
     ["|S1", "booleans, integers", "floats"]),
    (lambda: _rgb_tiff("colour.tif"), ["--am-label", "1"], ["colour (RGB) image", "'YXS'"]),
    (lambda: _nan_grey("grey.npy"), ["--threshold", "0.5"], ["1 of 13824 voxels are NaN"]),
    (lambda: _raw("v.raw", 8000), ["--shape", "10", "10", "10", "--dtype", "M8[s]",
                                   "--am-label", "1"], ["--dtype 'M8[s]'", "datetime64"]),
    (lambda: _raw("v.raw", 1000), ["--shape", "10", "10", "10", "--dtype", "O",
                                   "--am-label", "1"], ["--dtype 'O'", "object"]),
    (lambda: _raw("v.raw", 0), ["--shape", "10", "10", "10", "--dtype", "S0",
                                "--am-label", "1"], ["--dtype 'S0'"]),
    (lambda: _npy("v.npy", _particles()), ["--voxel-size-um", "1e-300", "--am-label", "1"],
     ["--voxel-size-um", "'1e-300'", "[0.01, 100]"]),
    (lambda: _npy("v.npy", _particles()), ["--threshold", "nan"],
     ["--threshold", "'nan'", "finite"]),
], ids=["empty", "one-voxel", "header-lying", "dtype-O", "dtype-S", "rgb", "nan-voxels",
        "raw-datetime", "raw-object", "raw-S0", "voxel-1e-300", "threshold-nan"])
def test_a_volume_no_tomogram_is_refused_in_one_line(make, options, words,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    volume = make()
    argv = [*BUILD, volume, "-o", "db.npz", *options]
    if "--voxel-size-um" not in options:
        argv += ["--voxel-size-um", "0.5"]
    lines = [line for line in refused(argv, capsys) if not line.startswith("particles: ")]
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_an_output_folder_or_file_is_refused_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    volume = _npy("v.npy", _particles())
    Path("folder.npz").mkdir()
    Path("old.npz").write_bytes(b"someone's database")
    for out, words in (("folder.npz", ["is a folder"]),
                       ("old.npz", ["already exists", "--force"])):
        (line,) = refused([*BUILD, volume, "--voxel-size-um", "0.5", "-o", out], capsys)
        for word in words:
            assert word in line, (word, line)
    assert Path("old.npz").read_bytes() == b"someone's database"


def test_force_replaces_an_existing_database_whole(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from mesosweep.stages.particles import load_database

    volume = _npy("v.npy", _particles())
    Path("old.npz").write_bytes(b"someone's database")
    assert main([*BUILD, volume, "--voxel-size-um", "0.5", "-o", "old.npz", "--force"]) == 0
    assert len(load_database("old.npz")) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.npz", "v.npy"]  # no temporary


MEASURE = ["xct", "measure"]


@pytest.mark.parametrize("options, words", [
    (["-n", "1000000000"], ["-n/--count", "'1000000000'", "<= 10000"]),
    (["--margin-um", "inf"], ["--margin-um", "'inf'", "finite"]),
    (["--voxel-size-um", "1e-300"], ["--voxel-size-um", "[0.01, 100]"]),
    (["-o", "a-file"], ["a-file is a file", "never replaced"]),
    (["-o", "a-file", "--overwrite"], ["a-file is a file"]),
    (["--dtype", "M8[s]", "--format", "raw", "--shape", "24", "24", "24"],
     ["--dtype 'M8[s]'", "datetime64"]),
], ids=["n-1e9", "margin-inf", "voxel-1e-300", "output-a-file", "overwrite-a-file",
        "dtype-datetime"])
def test_xct_measure_refuses_a_bad_request_before_reading(options, words,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    volume = _npy("v.npy", _particles())
    Path("a-file").write_text("notes")
    argv = [*MEASURE, volume, "--size-um", "4", "4", "4", "--am-label", "1"]
    if "--voxel-size-um" not in options:
        argv += ["--voxel-size-um", "0.5"]
    if "-o" not in options:
        argv += ["-o", "x.zarr"]
    (line,) = refused([*argv, *options], capsys)
    for word in words:
        assert word in line, (word, line)
    assert Path("a-file").read_text() == "notes"
