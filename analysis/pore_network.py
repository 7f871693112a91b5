"""Pore network: the pore space split into pores by a distance-transform watershed.

Method
------
1. Euclidean distance transform ``dt`` of the pore space (distance to the nearest solid
   voxel, in voxels), optionally smoothed by a Gaussian of ``sigma_vox`` so that voxel
   steps do not make spurious maxima.
2. Markers: the regional maxima of ``dt`` (plateaus included, ridges and saddles excluded)
   that are also the largest value within a ball of radius ``peak_radius_vox`` voxels; a
   marker lying inside the inscribed sphere of a higher one (distance < that sphere's
   radius) belongs to the same pore and is dropped. The defaults (``sigma_vox`` 0.4, ball
   radius 4) are those of PoreSpy's SNOW algorithm.
3. Watershed of ``-dt`` from the markers, restricted to the pore space: every pore voxel
   gets the id of one pore.
4. Per pore: volume, equivalent radius ``(3 V / 4 pi)^(1/3)``, centroid along the
   thickness axis. Per pair of pores sharing voxel faces (a throat): the interfacial area
   and the equivalent throat radius ``sqrt(area / pi)``. The coordination number of a pore
   is its number of throats.

Throat area
-----------
The faces between two pores form a staircase. Their count over-estimates an oblique flat
interface by up to ``sqrt(3)``, so the area is the length of the vector sum of the oriented
faces (the projected areas on the three axes), which is exact for any flat interface and
never taken below ``count / sqrt(3)``, the smallest value a flat interface of that many
faces can have.

Conventions: images are indexed ``[x, y, z]`` (z through-plane); no axis is treated as
periodic, so pores cut by the image faces count as smaller pores with fewer throats.
Statistics in :mod:`analysis.summary` keep pores above ``radius_threshold_um`` (1 µm by
default, as the paper).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.morphology import local_maxima
from skimage.segmentation import watershed

__all__ = ["PoreNetwork", "pore_network", "pore_regions"]


@dataclass(frozen=True)
class PoreNetwork:
    """Pores and throats of a pore space. Pore ``i`` (0-based) has region id ``i + 1``.

    Attributes
    ----------
    regions : numpy.ndarray of int32, shape (nx, ny, nz)
        Pore id per pore voxel (1..N), 0 in the solid.
    volume_um3 : numpy.ndarray, shape (N,)
        Pore volumes, µm³.
    radius_um : numpy.ndarray, shape (N,)
        Equivalent radius of each pore, ``(3 V / 4 pi)^(1/3)``, µm.
    position_um : numpy.ndarray, shape (N,)
        Centroid of each pore along the thickness axis, µm from the image's lower face.
    position_norm : numpy.ndarray, shape (N,)
        ``position_um / height_um`` (dimensionless, 0 at the current collector).
    coordination : numpy.ndarray of int64, shape (N,)
        Number of throats of each pore.
    throat_pores : numpy.ndarray of int64, shape (M, 2)
        The two pores (0-based, smaller first) joined by each throat.
    throat_area_um2 : numpy.ndarray, shape (M,)
        Interfacial area of each throat, µm².
    throat_radius_um : numpy.ndarray, shape (M,)
        Equivalent throat radius ``sqrt(area / pi)``, µm.
    radius_threshold_um : float
        Pores above this radius count in statistics (see :attr:`large`), µm.
    """

    regions: np.ndarray
    volume_um3: np.ndarray
    radius_um: np.ndarray
    position_um: np.ndarray
    position_norm: np.ndarray
    coordination: np.ndarray
    throat_pores: np.ndarray
    throat_area_um2: np.ndarray
    throat_radius_um: np.ndarray
    radius_threshold_um: float

    @property
    def large(self) -> np.ndarray:
        """Bool mask of the pores with ``radius_um > radius_threshold_um``."""
        return self.radius_um > self.radius_threshold_um

    @property
    def large_throats(self) -> np.ndarray:
        """Bool mask of the throats whose two pores are both large."""
        large = self.large
        return large[self.throat_pores[:, 0]] & large[self.throat_pores[:, 1]]


def pore_regions(
    pore: np.ndarray,
    *,
    sigma_vox: float = 0.4,
    peak_radius_vox: int = 4,
    merge_nearby_peaks: bool = True,
) -> np.ndarray:
    """Split a pore space into pores by a distance-transform watershed.

    Parameters
    ----------
    pore : numpy.ndarray of bool, shape (nx, ny, nz)
        True in the pore space.
    sigma_vox : float, default 0.4
        Gaussian smoothing of the distance map before peaks are searched, voxels; 0 turns
        it off.
    peak_radius_vox : int, default 4
        A marker must be the highest distance value within a ball of this radius, voxels;
        larger values give fewer, larger pores.
    merge_nearby_peaks : bool, default True
        Drop a marker that lies inside the inscribed sphere of a higher one.

    Returns
    -------
    numpy.ndarray of int32, shape (nx, ny, nz)
        Pore ids 1..N, 0 outside the pore space; ids are numbered in the order of the
        markers (C order of their first voxel).
    """
    pore = _as_mask(pore)
    if not sigma_vox >= 0:
        raise ValueError(f"sigma_vox must be >= 0, got {sigma_vox!r}")
    if int(peak_radius_vox) != peak_radius_vox or peak_radius_vox < 1:
        raise ValueError(f"peak_radius_vox must be an integer >= 1, got {peak_radius_vox!r}")
    if not pore.any():
        return np.zeros(pore.shape, dtype=np.int32)

    dt = ndimage.distance_transform_edt(pore).astype(np.float32)
    if sigma_vox > 0:
        dt = ndimage.gaussian_filter(dt, sigma_vox)
        dt[~pore] = 0.0
    # A marker is a true maximum (not a ridge or saddle) that dominates its neighbourhood.
    peaks = local_maxima(dt, connectivity=3, allow_borders=True).astype(bool)
    peaks &= pore
    candidates = np.argwhere(peaks)
    lost = ~_dominant(dt, candidates, int(peak_radius_vox))
    peaks[tuple(candidates[lost].T)] = False
    markers, count = ndimage.label(peaks, structure=np.ones((3, 3, 3), dtype=bool))
    if merge_nearby_peaks and count > 1:
        markers = _merge_nearby(markers, count, dt)
    return watershed(-dt, markers, mask=pore).astype(np.int32)


def pore_network(
    pore: np.ndarray,
    voxel_size_um: float,
    *,
    axis: int = 2,
    height_um: float | None = None,
    radius_threshold_um: float = 1.0,
    sigma_vox: float = 0.4,
    peak_radius_vox: int = 4,
    merge_nearby_peaks: bool = True,
    regions: np.ndarray | None = None,
) -> PoreNetwork:
    """Pores, throats and coordination numbers of a pore space.

    Parameters
    ----------
    pore : numpy.ndarray of bool, shape (nx, ny, nz)
        True in the pore space (pass ``phase != AM`` to count CBD as pore).
    voxel_size_um : float
        Voxel edge, µm.
    axis : int, default 2
        Thickness (through-plane) axis for the pore positions.
    height_um : float, optional
        Thickness that normalises positions, µm (default: the image extent along ``axis``).
    radius_threshold_um : float, default 1.0
        Pores above this equivalent radius count in statistics, µm.
    sigma_vox, peak_radius_vox, merge_nearby_peaks
        Watershed parameters, see :func:`pore_regions`.
    regions : numpy.ndarray of int, optional
        A ready segmentation (pore ids 1..N) to use instead of the watershed.

    Returns
    -------
    PoreNetwork
        Per-pore and per-throat arrays, see :class:`PoreNetwork`.
    """
    pore = _as_mask(pore)
    if not voxel_size_um > 0:
        raise ValueError(f"voxel_size_um must be > 0, got {voxel_size_um!r}")
    if not -3 <= axis < 3:
        raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
    axis = axis % 3
    v = float(voxel_size_um)
    height = pore.shape[axis] * v if height_um is None else float(height_um)
    if not height > 0:
        raise ValueError(f"height_um must be > 0, got {height_um!r}")
    if regions is None:
        regions = pore_regions(
            pore,
            sigma_vox=sigma_vox,
            peak_radius_vox=peak_radius_vox,
            merge_nearby_peaks=merge_nearby_peaks,
        )
    else:
        regions = np.asarray(regions)
        if regions.shape != pore.shape or not np.issubdtype(regions.dtype, np.integer):
            raise ValueError("regions must be an integer image of the pore's shape")
        regions = regions.astype(np.int32, copy=False)
    n = int(regions.max()) if regions.size else 0

    voxels = np.bincount(regions.reshape(-1), minlength=n + 1)[1:].astype(np.float64)
    volume = voxels * v**3
    radius = np.cbrt(3.0 * volume / (4.0 * np.pi))
    # Position: mean layer index of the pore's voxels along the thickness axis.
    layer_sum = np.zeros(n + 1)
    for k in range(regions.shape[axis]):
        layer = np.take(regions, k, axis=axis).reshape(-1)
        layer_sum += (k + 0.5) * np.bincount(layer, minlength=n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        position = np.where(voxels > 0, layer_sum[1:] / np.maximum(voxels, 1), np.nan) * v

    pairs, area_vox = _throats(regions, n)
    coordination = np.bincount(pairs.reshape(-1), minlength=n).astype(np.int64)
    area = area_vox * v**2
    return PoreNetwork(
        regions=regions,
        volume_um3=volume,
        radius_um=radius,
        position_um=position,
        position_norm=position / height,
        coordination=coordination,
        throat_pores=pairs,
        throat_area_um2=area,
        throat_radius_um=np.sqrt(area / np.pi),
        radius_threshold_um=float(radius_threshold_um),
    )


# --------------------------------------------------------------------------- helpers


def _as_mask(pore: np.ndarray) -> np.ndarray:
    pore = np.asarray(pore)
    if pore.ndim != 3:
        raise ValueError(f"pore must be a 3-D mask, got shape {pore.shape}")
    return pore.astype(bool, copy=False)


def _dominant(dt: np.ndarray, points: np.ndarray, radius: int) -> np.ndarray:
    """Whether no voxel within ``radius`` (Euclidean) of each point has a larger ``dt``.

    Checked at the candidate points only (a few per pore), which is far cheaper than a
    maximum filter with a ball footprint over the whole image.
    """
    axis = np.arange(-radius, radius + 1)
    offsets = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    offsets = offsets[(offsets**2).sum(axis=1) <= radius * radius]
    upper = np.array(dt.shape) - 1
    keep = np.empty(len(points), dtype=bool)
    chunk = max(1, 2_000_000 // len(offsets))
    for start in range(0, len(points), chunk):
        p = points[start : start + chunk]
        # Clipping keeps a neighbour inside the ball: it only moves it closer to the point.
        q = np.clip(p[:, None, :] + offsets[None], 0, upper)
        around = dt[q[..., 0], q[..., 1], q[..., 2]].max(axis=1)
        keep[start : start + chunk] = dt[p[:, 0], p[:, 1], p[:, 2]] >= around
    return keep


def _merge_nearby(markers: np.ndarray, count: int, dt: np.ndarray) -> np.ndarray:
    """Drop markers inside the inscribed sphere of a higher marker (ties: lower id wins)."""
    index = np.arange(1, count + 1)
    centres = np.array(ndimage.center_of_mass(markers > 0, markers, index)).reshape(-1, 3)
    height = np.asarray(ndimage.maximum(dt, markers, index), dtype=np.float64)
    tree = cKDTree(centres)
    keep = np.ones(count, dtype=bool)
    # Highest first, so a dropped marker never removes others.
    for i in np.lexsort((index, -height)):
        if not keep[i]:
            continue
        for j in tree.query_ball_point(centres[i], r=height[i]):
            if j != i and keep[j] and (height[j], -j) < (height[i], -i):
                keep[j] = False
    lookup = np.zeros(count + 1, dtype=np.int32)
    lookup[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return lookup[markers]


def _throats(regions: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pore pairs sharing faces (0-based, smaller first) and their interfacial areas (voxel²)."""
    keys, signs = [], []
    for ax in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(None, -1), slice(1, None)
        a, b = regions[tuple(lo)], regions[tuple(hi)]
        boundary = (a != b) & (a > 0) & (b > 0)
        a, b = a[boundary].astype(np.int64), b[boundary].astype(np.int64)
        # Orient every face from the lower to the higher pore id.
        sign = np.where(a < b, 1.0, -1.0)
        keys.append(np.minimum(a, b) * (n + 1) + np.maximum(a, b))
        signs.append((ax, sign))
    sizes = [k.size for k in keys]
    unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    m = unique.size
    projected = np.zeros((3, m))
    start = 0
    for (ax, sign), size in zip(signs, sizes, strict=True):  # one size per key set
        projected[ax] += np.bincount(inverse[start : start + size], weights=sign, minlength=m)
        start += size
    faces = np.bincount(inverse, minlength=m).astype(np.float64)
    area = np.maximum(np.sqrt((projected**2).sum(axis=0)), faces / np.sqrt(3.0))
    pairs = np.stack([unique // (n + 1), unique % (n + 1)], axis=1) - 1
    return pairs.astype(np.int64), area
