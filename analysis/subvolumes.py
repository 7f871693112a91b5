"""Random sub-volumes of an XCT volume: where to cut them (pure: shapes in, origins out).

The paper compared its simulated electrode with 20 sub-volumes of the same physical size cut
at random places from the XCT. This module chooses those places; the cutting and measuring
live in :mod:`analysis.xct`.

Conventions
-----------
* Volumes are indexed ``[x, y, z]`` (z through-plane, after
  :func:`stages.xct_io.through_plane_last`); a sub-volume is the half-open box
  ``origin <= index < origin + shape`` in voxels.
* Sizes in µm become voxel counts by rounding to the nearest whole voxel (at least one), so
  a sub-volume's physical size differs from the request by at most half a voxel per axis.
* Origins are drawn uniformly over every position where the box fits entirely, with
  :class:`numpy.random.Generator` (PCG64) seeded by ``seed``: the same seed gives the same
  sub-volumes.

Without overlap
---------------
At most ``prod(floor(volume / sub))`` translated copies of a box fit into a box without
overlapping (put a lattice of spacing ``sub``, shifted by the remainder, over the volume:
every half-open sub-volume holds exactly one of its points, and only that many lie inside),
so a request above this capacity is refused before any work. Below it, origins are drawn by
random sequential addition (each new box uniform among the positions that miss the earlier
ones, by rejection); if that jams, which happens close to capacity, the boxes are placed on
that lattice with a random shift and a random choice of cells, which always succeeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "capacity_without_overlap",
    "closest_to_mean",
    "cut",
    "sample_origins",
    "subvolume_shape",
]

# Rejection attempts per box before random sequential addition is given up for the lattice:
# far from capacity a box is placed within a few tries, so a large budget only matters when
# the volume is nearly full, where the lattice is the better answer anyway.
_TRIES_PER_BOX = 2000
# No tomogram spans a million voxels along an axis; beyond it a voxel count is a unit mistake.
_MAX_VOXELS_PER_AXIS = 1e6


def subvolume_shape(size_um: Sequence[float], voxel_size_um: float) -> tuple[int, int, int]:
    """Voxel counts of a sub-volume of the given physical size.

    Parameters
    ----------
    size_um : sequence of 3 float
        Edge lengths along x, y, z, µm (> 0).
    voxel_size_um : float
        Edge of one (isotropic) voxel of the volume, µm.

    Returns
    -------
    tuple of 3 int
        ``round(size / voxel)`` per axis, at least 1.
    """
    size = np.asarray(size_um, dtype=float).reshape(-1)
    if size.size != 3 or not np.all(np.isfinite(size)) or np.any(size <= 0):
        raise ValueError(f"size_um must be three positive lengths in µm, got {size_um!r}")
    if not (np.isfinite(voxel_size_um) and voxel_size_um > 0):
        raise ValueError(f"voxel_size_um must be > 0, got {voxel_size_um!r}")
    ratio = size / float(voxel_size_um)
    if not np.all(ratio < _MAX_VOXELS_PER_AXIS):
        raise ValueError(f"a sub-volume of {size.tolist()} µm at {voxel_size_um!r} µm voxels "
                         f"would span more than {_MAX_VOXELS_PER_AXIS:.0e} voxels along an axis; "
                         "check the size and the voxel size")
    counts = np.maximum(np.rint(ratio), 1).astype(int)
    return tuple(int(c) for c in counts)  # type: ignore[return-value]


def capacity_without_overlap(volume_shape: Sequence[int], sub_shape: Sequence[int]) -> int:
    """Largest number of non-overlapping sub-volumes that fit into the volume.

    Parameters
    ----------
    volume_shape, sub_shape : sequence of 3 int
        Shapes in voxels.

    Returns
    -------
    int
        ``prod(floor(volume_shape / sub_shape))`` (0 when the sub-volume does not fit).
    """
    vol, sub = _check_shapes(volume_shape, sub_shape, need_fit=False)
    return int(np.prod(vol // sub))


def sample_origins(
    volume_shape: Sequence[int],
    sub_shape: Sequence[int],
    n: int,
    *,
    seed: int,
    overlap: bool = True,
) -> np.ndarray:
    """Random origins of ``n`` sub-volumes that lie entirely inside the volume.

    Parameters
    ----------
    volume_shape : sequence of 3 int
        Shape of the volume, voxels.
    sub_shape : sequence of 3 int
        Shape of each sub-volume, voxels.
    n : int
        Number of sub-volumes (>= 1).
    seed : int
        Seed of the random generator (>= 0).
    overlap : bool, default True
        Whether sub-volumes may overlap. Without overlap the sub-volumes are statistically
        less dependent, but fewer fit.

    Returns
    -------
    numpy.ndarray of int64, shape (n, 3)
        Voxel index of each sub-volume's lower corner, in drawing order.

    Raises
    ------
    ValueError
        If the sub-volume is larger than the volume along any axis, ``n`` < 1, or, without
        overlap, more sub-volumes are asked for than fit (:func:`capacity_without_overlap`).
    """
    vol, sub = _check_shapes(volume_shape, sub_shape, need_fit=True)
    if int(n) != n or n < 1:
        raise ValueError(f"the number of sub-volumes must be an integer >= 1, got {n!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    n = int(n)
    rng = np.random.default_rng(int(seed))
    span = vol - sub + 1  # number of admissible origins per axis
    places = int(np.prod(span))
    if overlap and n > places:
        raise ValueError(
            f"{n} sub-volumes of {tuple(int(s) for s in sub)} voxels: a volume of "
            f"{tuple(int(v) for v in vol)} voxels has only {places} places for one, so most "
            "would be copies; ask for at most that many")
    if overlap:
        return rng.integers(0, span, size=(n, 3)).astype(np.int64)

    capacity = int(np.prod(vol // sub))
    if n > capacity:
        raise ValueError(
            f"{n} sub-volumes of {tuple(sub)} voxels do not fit into a volume of {tuple(vol)} "
            f"voxels without overlapping: at most {capacity} do; ask for fewer, make them "
            "smaller, or allow overlap"
        )
    origins = _sequential_addition(rng, vol, sub, span, n)
    if origins is None:
        origins = _shifted_lattice(rng, vol, sub, n)
    return origins


def cut(volume: np.ndarray, origin: Sequence[int], sub_shape: Sequence[int]) -> np.ndarray:
    """The sub-volume at ``origin`` (a view, not a copy).

    Parameters
    ----------
    volume : numpy.ndarray, 3-D
        The volume, ``[x, y, z]``.
    origin : sequence of 3 int
        Lower corner, voxels.
    sub_shape : sequence of 3 int
        Shape, voxels.

    Returns
    -------
    numpy.ndarray
        ``volume[ox:ox+sx, oy:oy+sy, oz:oz+sz]``.
    """
    vol, sub = _check_shapes(np.shape(volume), sub_shape, need_fit=True)
    o = np.asarray(origin, dtype=np.int64).reshape(-1)
    if o.size != 3 or np.any(o < 0) or np.any(o + sub > vol):
        raise ValueError(f"a sub-volume of {tuple(sub)} at {tuple(o)} is not inside {tuple(vol)}")
    return volume[tuple(slice(int(a), int(a + s)) for a, s in zip(o, sub, strict=True))]


def closest_to_mean(values: np.ndarray) -> int:
    """Index of the sample closest to the mean of all samples, each metric standardised.

    The paper showed the sub-volume "most comparable to the average value" of porosity and
    tortuosity factor; with several metrics of different units, the distance is taken
    after dividing each metric by its standard deviation over the samples, so no unit
    dominates.

    Parameters
    ----------
    values : numpy.ndarray, shape (n,) or (n, k)
        ``k`` metrics of ``n`` samples (any units). Non-finite entries are ignored (the
        column's mean and sd come from its finite values; a missing entry adds nothing to
        that sample's distance). A metric with zero spread is ignored.

    Returns
    -------
    int
        Row index of the closest sample (ties: the lowest index).
    """
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] < 1:
        raise ValueError(f"values must be (n,) or (n, k) with n >= 1, got shape {v.shape}")
    finite = np.isfinite(v)
    if not finite.any():
        raise ValueError("closest_to_mean: no finite value to compare")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(np.where(finite, v, np.nan), axis=0)
        sd = (np.nanstd(np.where(finite, v, np.nan), axis=0, ddof=1) if v.shape[0] > 1
              else np.zeros(v.shape[1]))
        z = np.where(finite & (sd > 0), (v - mean) / np.where(sd > 0, sd, 1.0), 0.0)
    # A sample without any finite metric must not win by default.
    distance = np.where(finite.any(axis=1), np.sqrt((z**2).sum(axis=1)), np.inf)
    return int(np.argmin(distance))


# --------------------------------------------------------------------------- helpers


def _check_shapes(
    volume_shape: Sequence[int], sub_shape: Sequence[int], *, need_fit: bool
) -> tuple[np.ndarray, np.ndarray]:
    vol = np.asarray(volume_shape).reshape(-1)
    sub = np.asarray(sub_shape).reshape(-1)
    if vol.size != 3 or sub.size != 3:
        raise ValueError(f"shapes must have 3 axes, got {tuple(vol)} and {tuple(sub)}")
    if (np.any(vol != np.rint(vol)) or np.any(sub != np.rint(sub)) or np.any(sub < 1)
            or np.any(vol < 1)):
        raise ValueError(f"shapes must be positive integers, got {tuple(vol)} and {tuple(sub)}")
    vol, sub = vol.astype(np.int64), sub.astype(np.int64)
    if need_fit and np.any(sub > vol):
        axes = ", ".join("xyz"[i] for i in np.flatnonzero(sub > vol))
        raise ValueError(
            f"the sub-volume ({tuple(int(s) for s in sub)} voxels) is larger than the volume "
            f"({tuple(int(v) for v in vol)} voxels) along {axes}"
        )
    return vol, sub


def _sequential_addition(
    rng: np.random.Generator, vol: np.ndarray, sub: np.ndarray, span: np.ndarray, n: int
) -> np.ndarray | None:
    """Random sequential addition by rejection; None when it jams."""
    origins = np.empty((n, 3), dtype=np.int64)
    for k in range(n):
        for _ in range(_TRIES_PER_BOX):
            candidate = rng.integers(0, span, size=3)
            # Two boxes of equal shape overlap iff their origins differ by less than the
            # shape along every axis.
            if k == 0 or not np.any(np.all(np.abs(origins[:k] - candidate) < sub, axis=1)):
                origins[k] = candidate
                break
        else:
            return None
    return origins


def _shifted_lattice(
    rng: np.random.Generator, vol: np.ndarray, sub: np.ndarray, n: int
) -> np.ndarray:
    """``n`` distinct random cells of the lattice of spacing ``sub``, shifted at random."""
    cells = vol // sub
    shift = rng.integers(0, vol - cells * sub + 1)
    chosen = rng.choice(int(np.prod(cells)), size=n, replace=False)
    index = np.stack(np.unravel_index(chosen, tuple(int(c) for c in cells)), axis=1)
    return (shift + index * sub).astype(np.int64)
