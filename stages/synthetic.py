"""Synthetic labelled volumes of irregular, elongated secondary particles.

Stands in for XCT when no tomography is at hand, and gives the extraction a ground truth: each
particle is a randomly oriented ellipsoid with NMC-like axis ratios (Krumbein sphericity mostly
0.6–0.85), its surface roughened by a smooth low-frequency perturbation, scaled to a
volume-equivalent diameter drawn in the requested range. Particles are placed at least one
voxel apart and away from the border, so the output feeds
:func:`analysis.separation.extract_particles` exactly as a segmented XCT volume would.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from mesosweep.analysis.phases import AM, PORE
from mesosweep.stages.structure import random_rotation

__all__ = ["synthetic_particle", "synthetic_volume"]

# Axis-ratio ranges: b/a in [0.62, 0.88] and c/b in [0.72, 0.95] put (b·c/a²)^(1/3) in about
# 0.63–0.89 for a smooth ellipsoid; the roughening lowers it slightly.
_B_OVER_A = (0.62, 0.88)
_C_OVER_B = (0.72, 0.95)
_ROUGHNESS = 0.07  # relative amplitude of the surface perturbation
_WAVES = 4  # low-frequency plane waves summed on the unit sphere of directions
_PACKING = 0.2  # solid fraction aimed at when sizing the volume; loose, so placement is quick


def _surface_perturbation(directions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth random function of direction with values in [-1, 1]."""
    wavevectors = rng.standard_normal((_WAVES, 3))
    # wavelength about a particle radius: a few bumps over the surface, no spikes
    wavevectors *= (rng.uniform(1.5, 3.0, (_WAVES, 1))
                    / np.linalg.norm(wavevectors, axis=1, keepdims=True))
    phases = rng.uniform(0.0, 2.0 * np.pi, _WAVES)
    field = np.cos(directions @ wavevectors.T + phases).sum(axis=1)
    return field / _WAVES


def _rasterise(semi_axes_vox: np.ndarray, rotation: np.ndarray, wave_seed: int) -> np.ndarray:
    """Voxel mask of a roughened ellipsoid (semi-axes in voxels), centred in its box."""
    half = int(np.ceil(semi_axes_vox.max() * (1.0 + _ROUGHNESS))) + 1
    grid = np.arange(-half, half + 1, dtype=float)
    points = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    scaled = (points @ rotation) / semi_axes_vox  # body frame, unit-sphere coordinates
    radius = np.linalg.norm(scaled, axis=1)
    directions = scaled / np.maximum(radius, 1e-12)[:, None]
    # the same seed gives the same surface when the particle is rescaled
    bumps = _surface_perturbation(directions, np.random.default_rng(wave_seed))
    inside = radius <= 1.0 + _ROUGHNESS * bumps
    return inside.reshape((grid.size,) * 3)


def _crop(mask: np.ndarray) -> np.ndarray:
    """Crop a mask to its bounding box."""
    box = ndi.find_objects(mask.astype(np.uint8))[0]
    return mask[box]


def synthetic_particle(diameter_um: float, voxel_size_um: float,
                       rng: np.random.Generator) -> np.ndarray:
    """One irregular, elongated particle with the given volume-equivalent diameter.

    Parameters
    ----------
    diameter_um : float
        Target volume-equivalent diameter, µm; the voxelised particle is within about 2 %
        (and within one voxel's volume for tiny particles).
    voxel_size_um : float
        Voxel edge length, µm.
    rng : numpy.random.Generator
        Source of randomness (orientation, axis ratios, surface).

    Returns
    -------
    numpy.ndarray of bool
        The particle's mask, cropped to its bounding box, indexed [x, y, z].
    """
    b_over_a = rng.uniform(*_B_OVER_A)
    c_over_b = rng.uniform(*_C_OVER_B)
    # unit volume-equivalent radius: a·b·c = 1 with b = q1·a, c = q2·b
    unit_axes = np.array([1.0, b_over_a, b_over_a * c_over_b]) / np.cbrt(b_over_a**2 * c_over_b)
    rotation = random_rotation(rng)
    wave_seed = int(rng.integers(2**63))
    target_voxels = np.pi / 6.0 * (diameter_um / voxel_size_um) ** 3
    scale = diameter_um / voxel_size_um / 2.0
    mask = _rasterise(unit_axes * scale, rotation, wave_seed)
    for _ in range(4):  # the roughening and the voxel grid shift the volume: correct the scale
        ratio = target_voxels / max(int(mask.sum()), 1)
        if abs(ratio - 1.0) < 0.02:
            break
        scale *= np.cbrt(ratio)
        mask = _rasterise(unit_axes * scale, rotation, wave_seed)
    return _crop(mask)


def _occupied_footprint(mask: np.ndarray) -> np.ndarray:
    """The mask grown by one voxel in all 26 directions, padded so it fits: keeps a gap."""
    padded = np.pad(mask, 1)
    return ndi.binary_dilation(padded, structure=np.ones((3, 3, 3), dtype=bool))


def _try_place(
    footprints: list[np.ndarray], side: int, margin: int, rng: np.random.Generator, attempts: int
) -> list[tuple[int, int, int]] | None:
    """Random sequential placement of footprints in a cube; ``None`` if one does not fit."""
    occupied = np.zeros((side,) * 3, dtype=bool)
    corners = []
    for footprint in footprints:
        room = np.array([side - 2 * margin - s for s in footprint.shape])
        if (room < 1).any():
            return None
        for _ in range(attempts):
            corner = margin + rng.integers(0, room)
            window = tuple(slice(c, c + s) for c, s in zip(corner, footprint.shape, strict=True))
            if not (occupied[window] & footprint).any():
                occupied[window] |= footprint
                corners.append(tuple(int(c) for c in corner))
                break
        else:
            return None
    return corners


def synthetic_volume(
    count: int,
    diameter_range_um: tuple[float, float],
    voxel_size_um: float,
    rng: np.random.Generator,
    *,
    margin_vox: int = 2,
) -> np.ndarray:
    """A labelled volume of separated synthetic secondary particles.

    Volume-equivalent diameters are drawn uniformly in ``diameter_range_um``. Particles are at
    least one voxel apart (no face, edge or corner contact) and ``margin_vox`` voxels or more
    from every face of the volume, whose size is chosen to hold them loosely.

    Parameters
    ----------
    count : int
        Number of particles.
    diameter_range_um : (float, float)
        Smallest and largest volume-equivalent diameter, µm.
    voxel_size_um : float
        Voxel edge length, µm.
    rng : numpy.random.Generator
        Source of randomness; the same generator state gives the same volume.
    margin_vox : int
        Empty voxels kept between particles and the volume's border.

    Returns
    -------
    numpy.ndarray of uint8, cubic
        ``PORE`` and ``AM`` labels, indexed [x, y, z].
    """
    low, high = (float(d) for d in diameter_range_um)
    if count < 1:
        raise ValueError(f"synthetic_volume: count must be >= 1, got {count}")
    if not 0 < low <= high:
        raise ValueError(f"synthetic_volume: need 0 < min <= max diameter, got {diameter_range_um}")
    if not voxel_size_um > 0:
        raise ValueError(f"synthetic_volume: voxel_size_um must be > 0, got {voxel_size_um}")
    # draw a hair inside the range: the voxelised volume lands within 2 % (0.7 % in diameter)
    inner = (low * 1.01, high / 1.01) if low * 1.01 < high / 1.01 else (0.5 * (low + high),) * 2
    masks = [synthetic_particle(d, voxel_size_um, rng) for d in rng.uniform(*inner, count)]
    masks.sort(key=lambda m: -int(m.sum()))  # largest first: they are the hardest to fit
    footprints = [_occupied_footprint(m) for m in masks]
    solid = sum(int(f.sum()) for f in footprints)
    side = max(
        int(np.ceil(np.cbrt(solid / _PACKING))),
        max(max(f.shape) for f in footprints) + 1,
    ) + 2 * margin_vox
    while (corners := _try_place(footprints, side, margin_vox, rng, attempts=200)) is None:
        side = int(np.ceil(side * 1.15))  # too tight for random placement: enlarge and retry
    volume = np.full((side,) * 3, PORE, dtype=np.uint8)
    for mask, corner in zip(masks, corners, strict=True):
        # the footprint is padded by one voxel, so the mask sits one voxel inside it
        window = tuple(slice(c + 1, c + 1 + s) for c, s in zip(corner, mask.shape, strict=True))
        volume[window][mask] = AM
    return volume
