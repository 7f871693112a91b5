"""Sampling of XCT sub-volumes: sizes, placement, overlap rules and their errors."""

import numpy as np
import pytest

from mesosweep.analysis.subvolumes import (
    capacity_without_overlap,
    closest_to_mean,
    cut,
    sample_origins,
    subvolume_shape,
)


def _overlaps(origins: np.ndarray, sub: tuple[int, int, int]) -> bool:
    diff = np.abs(origins[:, None, :] - origins[None, :, :])
    pair = np.all(diff < np.asarray(sub), axis=2)
    np.fill_diagonal(pair, False)
    return bool(pair.any())


def test_shape_rounds_to_whole_voxels():
    assert subvolume_shape((10.0, 10.0, 4.0), 0.398) == (25, 25, 10)
    assert subvolume_shape((0.1, 1.0, 1.0), 0.5) == (1, 2, 2)  # never zero voxels
    with pytest.raises(ValueError, match="three positive"):
        subvolume_shape((1.0, -1.0, 1.0), 0.5)
    with pytest.raises(ValueError, match="voxel_size_um"):
        subvolume_shape((1.0, 1.0, 1.0), 0.0)


def test_origins_inside_seeded_and_reproducible():
    a = sample_origins((50, 60, 40), (10, 20, 40), 30, seed=7)
    b = sample_origins((50, 60, 40), (10, 20, 40), 30, seed=7)
    c = sample_origins((50, 60, 40), (10, 20, 40), 30, seed=8)
    assert a.shape == (30, 3) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all(a >= 0) and np.all(a + (10, 20, 40) <= (50, 60, 40))
    assert np.all(a[:, 2] == 0)  # a sub-volume as tall as the volume can only sit at z = 0


def test_no_overlap_and_capacity():
    vol, sub = (40, 40, 12), (10, 10, 12)
    assert capacity_without_overlap(vol, sub) == 16
    assert capacity_without_overlap((45, 39, 12), sub) == 12
    few = sample_origins(vol, sub, 5, seed=1, overlap=False)
    assert not _overlaps(few, sub)
    # At capacity random addition jams; the shifted lattice must still deliver.
    full = sample_origins(vol, sub, 16, seed=1, overlap=False)
    assert not _overlaps(full, sub) and len({tuple(o) for o in full}) == 16
    with pytest.raises(ValueError, match="at most 16"):
        sample_origins(vol, sub, 17, seed=1, overlap=False)


def test_bad_requests_fail_before_work():
    with pytest.raises(ValueError, match="larger than the volume .* along z"):
        sample_origins((50, 50, 20), (10, 10, 30), 3, seed=0)
    with pytest.raises(ValueError, match=">= 1"):
        sample_origins((50, 50, 20), (10, 10, 10), 0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        sample_origins((50, 50, 20), (10, 10, 10), 2, seed=-1)


def test_cut_is_the_box():
    vol = np.arange(6 * 7 * 8).reshape(6, 7, 8)
    part = cut(vol, (1, 2, 3), (2, 3, 4))
    assert np.array_equal(part, vol[1:3, 2:5, 3:7])
    with pytest.raises(ValueError, match="not inside"):
        cut(vol, (5, 0, 0), (2, 3, 4))


def test_closest_to_mean_standardises():
    # Column 2 is in large units; without standardisation sample 2 would win on column 1.
    values = np.array([[0.40, 1000.0], [0.50, 2000.0], [0.45, 4000.0], [0.45, 2100.0]])
    assert closest_to_mean(values) == 3
    assert closest_to_mean(np.array([1.0, 5.0, 2.9, 3.2])) == 2
    assert closest_to_mean(np.array([[np.nan], [1.0], [2.0], [3.0]])) == 2
