"""XCT volume reader and label-to-phase mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from mesosweep.analysis.phases import AM, CBD, PORE
from mesosweep.stages.xct_io import labels_to_phases, read_volume, through_plane_last


@pytest.fixture
def labels() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 3, size=(5, 6, 7), dtype=np.uint8)


# --------------------------------------------------------------------------- formats


def test_multipage_tiff_round_trip(tmp_path: Path, labels: np.ndarray) -> None:
    tifffile.imwrite(tmp_path / "v.tif", labels, photometric="minisblack")
    assert np.array_equal(read_volume(tmp_path / "v.tif"), labels)


def test_tiff_folder_is_stacked_in_name_order(tmp_path: Path, labels: np.ndarray) -> None:
    folder = tmp_path / "slices"
    folder.mkdir()
    for i in reversed(range(labels.shape[0])):  # written out of order on purpose
        tifffile.imwrite(folder / f"slice_{i:04d}.tiff", labels[i])
    (folder / "notes.txt").write_text("ignored")
    assert np.array_equal(read_volume(folder), labels)


def test_npy_round_trip(tmp_path: Path, labels: np.ndarray) -> None:
    np.save(tmp_path / "v.npy", labels)
    assert np.array_equal(read_volume(tmp_path / "v.npy"), labels)


def test_raw_round_trip_and_errors(tmp_path: Path) -> None:
    volume = np.arange(2 * 3 * 4, dtype="<u2").reshape(2, 3, 4)
    volume.tofile(tmp_path / "v.raw")
    got = read_volume(tmp_path / "v.raw", shape=(2, 3, 4), dtype="<u2")
    assert got.dtype == np.dtype("<u2") and np.array_equal(got, volume)
    with pytest.raises(ValueError, match="needs shape"):
        read_volume(tmp_path / "v.raw")
    with pytest.raises(ValueError, match="48 bytes"):
        read_volume(tmp_path / "v.raw", shape=(2, 3, 5), dtype="<u2")


def test_zarr_round_trip(tmp_path: Path, labels: np.ndarray) -> None:
    array = zarr.create_array(store=str(tmp_path / "v.zarr"), shape=labels.shape,
                              dtype=labels.dtype)
    array[...] = labels
    assert np.array_equal(read_volume(tmp_path / "v.zarr"), labels)
    zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    with pytest.raises(ValueError, match="group"):
        read_volume(tmp_path / "g.zarr", fmt="zarr")


def test_bad_inputs_are_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "fake.tif").write_text("this is not an image")
    with pytest.raises(ValueError, match="not a readable TIFF"):
        read_volume(tmp_path / "fake.tif")
    np.save(tmp_path / "flat.npy", np.zeros((5, 5)))
    with pytest.raises(ValueError, match="3-D"):
        read_volume(tmp_path / "flat.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="plain numeric"):
        read_volume(tmp_path / "objects.npy")
    (tmp_path / "volume.xyz").write_bytes(b"\0" * 8)
    with pytest.raises(ValueError, match="fmt="):
        read_volume(tmp_path / "volume.xyz")
    with pytest.raises(ValueError, match="unknown fmt"):
        read_volume(tmp_path / "volume.xyz", fmt="png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither TIFF slices nor a zarr"):
        read_volume(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        read_volume(tmp_path / "missing.tif")


# --------------------------------------------------------------------------- phases


def test_labels_map_to_phases(labels: np.ndarray) -> None:
    shifted = labels.astype(np.int16) + 10  # user labels 10, 11, 12
    phases = labels_to_phases(shifted, am=11, cbd=[12], pore=10)
    assert phases.dtype == np.uint8
    assert np.array_equal(phases == AM, labels == 1)
    assert np.array_equal(phases == CBD, labels == 2)
    assert np.array_equal(phases == PORE, labels == 0)
    merged = labels_to_phases(shifted, am=11)  # everything else is pore
    assert set(np.unique(merged).tolist()) == {PORE, AM}


def test_label_errors_name_the_problem(labels: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"am label\(s\) \[7\] not present"):
        labels_to_phases(labels, am=7)
    with pytest.raises(ValueError, match="threshold="):
        labels_to_phases(labels.astype(np.float32), am=1)
    with pytest.raises(ValueError, match="more than one phase"):
        labels_to_phases(labels, am=1, cbd=1)
    with pytest.raises(ValueError, match=r"\[2\] are in the volume but in none"):
        labels_to_phases(labels, am=1, pore=0)
    with pytest.raises(ValueError, match="exactly one"):
        labels_to_phases(labels, am=1, threshold=0.5)
    with pytest.raises(ValueError, match="exactly one"):
        labels_to_phases(labels)
    with pytest.raises(ValueError, match="3-D"):
        labels_to_phases(labels[0], am=1)


def test_threshold_and_empty_am() -> None:
    grey = np.linspace(0.0, 1.0, 27).reshape(3, 3, 3)
    phases = labels_to_phases(grey, threshold=0.5)
    assert np.array_equal(phases == AM, grey > 0.5)
    with pytest.raises(ValueError, match="AM phase is empty"):
        labels_to_phases(grey, threshold=2.0)


def test_through_plane_axis_goes_last_without_mirroring() -> None:
    volume = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    assert through_plane_last(volume, 2) is not None
    assert np.array_equal(through_plane_last(volume, 2), volume)
    for axis in (0, 1):
        moved = through_plane_last(volume, axis)
        assert moved.shape[2] == volume.shape[axis]
        # a cyclic permutation of the axes is a rotation: its permutation matrix has det +1
        order = [volume.strides.index(stride) for stride in moved.strides]
        assert order[2] == axis and np.linalg.det(np.eye(3)[order]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="0, 1 or 2"):
        through_plane_last(volume, 3)
    with pytest.raises(ValueError, match="3-D"):
        through_plane_last(volume[0], 0)
