"""Shape of secondary particles: inertia ellipsoid, Krumbein sphericity, orientation, tracking.

Conventions
-----------
* A particle image is an integer array indexed ``[x, y, z]`` (z through-plane) holding a
  particle id > 0 on each particle's voxels and 0 elsewhere.
* The inertia ellipsoid of a particle is the solid ellipsoid with the same second moments
  as its voxels, each voxel counted as a filled cube: a solid ellipsoid of semi-axis ``a``
  has variance ``a²/5`` along that axis, so the semi-axes are ``sqrt(5 λ)`` for the
  eigenvalues ``λ`` of the coordinate covariance, which includes 1/12 voxel² per axis for
  the voxels' own extent. Semi-axes are sorted a ≥ b ≥ c.
* Krumbein sphericity is ``(b c / a²)^(1/3)``: 1 for a sphere, smaller for elongated or
  flattened particles.
* Orientation is the angle between the major axis (of ``a``) and the through-plane axis,
  in degrees from 0 (major axis through-plane) to 90 (major axis in-plane). Randomly
  oriented particles average 57.3° (1 rad).
* Periodic axes (x and y of a simulated electrode) are unwrapped per particle before the
  moments are taken, so a particle cut by the periodic boundary is measured whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ParticleShapes",
    "ShapeChange",
    "ellipsoid_semi_axes",
    "krumbein_sphericity",
    "particle_shapes",
    "track_particles",
]

# Variance of a unit cube's coordinate along one axis, in voxel².
_CUBE_VARIANCE = 1.0 / 12.0
# Variance of a solid ellipsoid along a semi-axis of length a is a² / 5.
_ELLIPSOID_VARIANCE_FACTOR = 5.0


@dataclass(frozen=True)
class ParticleShapes:
    """Per-particle shape of every label in a particle image (one row per particle).

    Attributes
    ----------
    label : numpy.ndarray of int64, shape (N,)
        Particle ids, ascending.
    voxels : numpy.ndarray of int64, shape (N,)
        Voxel count of each particle.
    centroid_um : numpy.ndarray, shape (N, 3)
        Centroid in µm from the image origin (voxel ``i`` spans ``[i, i + 1)`` voxels); on a
        periodic axis it is wrapped back into the image.
    semi_axes_um : numpy.ndarray, shape (N, 3)
        Inertia-ellipsoid semi-axes a ≥ b ≥ c, µm.
    major_axis : numpy.ndarray, shape (N, 3)
        Unit vector along ``a`` in image axes (sign chosen so the through-plane component
        is >= 0).
    sphericity : numpy.ndarray, shape (N,)
        Krumbein sphericity (dimensionless, (0, 1]).
    orientation_deg : numpy.ndarray, shape (N,)
        Angle between the major axis and the through-plane axis, degrees in [0, 90].
    """

    label: np.ndarray
    voxels: np.ndarray
    centroid_um: np.ndarray
    semi_axes_um: np.ndarray
    major_axis: np.ndarray
    sphericity: np.ndarray
    orientation_deg: np.ndarray


@dataclass(frozen=True)
class ShapeChange:
    """Change of the particles present in two states (e.g. dried → calendered).

    Attributes
    ----------
    label : numpy.ndarray of int64, shape (M,)
        Ids found in both states, ascending.
    deformation : numpy.ndarray, shape (M, 3)
        Relative change of each semi-axis, ``after / before - 1`` for a, b, c
        (dimensionless; -0.1 is a 10 % shortening).
    rotation_deg : numpy.ndarray, shape (M,)
        Angle between the major axes of the two states, degrees in [0, 90].
    sphericity_change : numpy.ndarray, shape (M,)
        ``sphericity_after - sphericity_before`` (dimensionless).
    """

    label: np.ndarray
    deformation: np.ndarray
    rotation_deg: np.ndarray
    sphericity_change: np.ndarray


def ellipsoid_semi_axes(mask: np.ndarray, voxel_size_um: float) -> np.ndarray:
    """Principal semi-axes a ≥ b ≥ c of the inertia ellipsoid of one particle mask.

    Parameters
    ----------
    mask : numpy.ndarray of bool, 3-D
        The particle's voxels (not periodic).
    voxel_size_um : float
        Voxel edge length, µm.

    Returns
    -------
    numpy.ndarray, shape (3,)
        Semi-axes in µm, in decreasing order.
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"ellipsoid_semi_axes: mask must be 3-D, got shape {mask.shape}")
    if not np.any(mask):
        raise ValueError("ellipsoid_semi_axes: the mask is empty")
    shapes = particle_shapes(mask.astype(bool).view(np.uint8), voxel_size_um, periodic=(False,) * 3)
    return shapes.semi_axes_um[0]


def krumbein_sphericity(axes: np.ndarray) -> np.ndarray:
    """Krumbein sphericity ``(b·c / a²)^(1/3)`` from semi-axes sorted a ≥ b ≥ c.

    Parameters
    ----------
    axes : numpy.ndarray, shape (3,) or (N, 3)
        Semi-axes (any length unit), largest first.

    Returns
    -------
    numpy.ndarray
        Sphericity in (0, 1]; 1 for a sphere.
    """
    axes = np.asarray(axes, dtype=float)
    a, b, c = axes[..., 0], axes[..., 1], axes[..., 2]
    return np.cbrt(b * c / a**2)


def particle_shapes(
    particle_image: np.ndarray,
    voxel_size_um: float,
    *,
    periodic: tuple[bool, bool, bool] = (True, True, False),
    through_plane_axis: int = 2,
) -> ParticleShapes:
    """Inertia ellipsoid, sphericity and orientation of every particle in an image.

    Parameters
    ----------
    particle_image : numpy.ndarray of int, shape (nx, ny, nz)
        Particle id per voxel, 0 outside particles.
    voxel_size_um : float
        Voxel edge length, µm.
    periodic : tuple of 3 bool, default (True, True, False)
        Axes on which particles wrap around (x and y of a simulated electrode). Use
        ``(False, False, False)`` for an XCT volume.
    through_plane_axis : int, default 2
        Axis the orientation angle is measured from.

    Returns
    -------
    ParticleShapes
        One row per particle id present, ascending.

    Notes
    -----
    Moments come from ``np.bincount`` over all particle voxels at once (two passes: means,
    then centred second moments), so the cost is linear in the number of particle voxels
    and independent of the number of particles. A particle that spans a whole periodic
    axis (no empty slice along it) cannot be unwrapped and is measured as it lies.
    """
    image = np.asarray(particle_image)
    if image.ndim != 3:
        raise ValueError(f"particle_image must be 3-D, got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.integer):
        raise ValueError(f"particle_image must hold integer ids, got dtype {image.dtype}")
    if not voxel_size_um > 0:
        raise ValueError(f"voxel_size_um must be > 0, got {voxel_size_um!r}")
    if len(periodic) != 3:
        raise ValueError(f"periodic needs one flag per axis, got {periodic!r}")
    if not -3 <= through_plane_axis < 3:
        raise ValueError(f"through_plane_axis must be 0, 1 or 2, got {through_plane_axis!r}")
    if image.size and image.min() < 0:
        raise ValueError("particle ids must be >= 0")

    where = np.flatnonzero(image)
    ids, compact = np.unique(image.reshape(-1)[where], return_inverse=True)
    n = ids.size
    if n == 0:
        empty = np.zeros((0, 3))
        return ParticleShapes(ids.astype(np.int64), np.zeros(0, np.int64), empty, empty, empty,
                              np.zeros(0), np.zeros(0))
    coords = np.unravel_index(where, image.shape)
    del where
    voxels = np.bincount(compact, minlength=n)

    # Coordinates of voxel centres, unwrapped per particle on periodic axes.
    centred = []
    mean = np.empty((n, 3))
    for ax in range(3):
        c = coords[ax].astype(np.float64)
        if periodic[ax]:
            cut = _wrap_cut(coords[ax], compact, n, image.shape[ax])
            c[coords[ax] < cut[compact]] += image.shape[ax]
        mean[:, ax] = np.bincount(compact, weights=c, minlength=n) / voxels
        c -= mean[compact, ax]  # centre first: second moments without cancellation
        centred.append(c)
    covariance = np.empty((n, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            m = np.bincount(compact, weights=centred[i] * centred[j], minlength=n) / voxels
            covariance[:, i, j] = covariance[:, j, i] = m
    covariance[:, range(3), range(3)] += _CUBE_VARIANCE

    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    semi_axes = np.sqrt(_ELLIPSOID_VARIANCE_FACTOR * np.clip(eigenvalues[:, ::-1], 0.0, None))
    major = eigenvectors[:, :, -1]
    tp = through_plane_axis % 3
    major = major * np.where(major[:, tp] < 0, -1.0, 1.0)[:, None]
    orientation = np.degrees(np.arccos(np.clip(np.abs(major[:, tp]), 0.0, 1.0)))

    centroid = mean + 0.5  # voxel i has its centre at i + 0.5
    for ax in range(3):
        if periodic[ax]:
            centroid[:, ax] %= image.shape[ax]
    v = float(voxel_size_um)
    return ParticleShapes(
        label=ids.astype(np.int64),
        voxels=voxels.astype(np.int64),
        centroid_um=centroid * v,
        semi_axes_um=semi_axes * v,
        major_axis=major,
        sphericity=krumbein_sphericity(semi_axes),
        orientation_deg=orientation,
    )


def track_particles(before: ParticleShapes, after: ParticleShapes) -> ShapeChange:
    """Deformation and rotation of each particle id present in both states.

    Parameters
    ----------
    before, after : ParticleShapes
        Shapes of the same electrode in two states, from :func:`particle_shapes` with the
        same voxel size (ids must denote the same particles, as the bead model's
        secondary-particle ids do).

    Returns
    -------
    ShapeChange
        Per common id: relative change of a, b, c, rotation of the major axis (degrees,
        0–90, sign-free since an axis has no direction), change of sphericity.
    """
    common, i, j = np.intersect1d(before.label, after.label, return_indices=True)
    deformation = after.semi_axes_um[j] / before.semi_axes_um[i] - 1.0
    cosine = np.abs(np.einsum("ij,ij->i", before.major_axis[i], after.major_axis[j]))
    rotation = np.degrees(np.arccos(np.clip(cosine, 0.0, 1.0)))
    return ShapeChange(
        label=common.astype(np.int64),
        deformation=deformation,
        rotation_deg=rotation,
        sphericity_change=after.sphericity[j] - before.sphericity[i],
    )


# --------------------------------------------------------------------------- helpers


def _wrap_cut(coord: np.ndarray, compact: np.ndarray, n: int, size: int) -> np.ndarray:
    """Per particle, the slice at which to cut a periodic axis so the particle is whole.

    The slices a particle occupies along the axis lie on a circle of ``size`` positions;
    the particle is cut at its largest empty gap, i.e. the returned slice is the first one
    after that gap. Coordinates below it belong one period further (add ``size``). A
    particle that does not touch both ends of the axis gets cut 0 (nothing moves).
    """
    occupied = np.zeros((n, size), dtype=bool)
    occupied[compact, coord] = True
    cut = np.zeros(n, dtype=np.int64)
    for p in np.flatnonzero(occupied[:, 0] & occupied[:, -1]):
        slices = np.flatnonzero(occupied[p])
        if slices.size == size:
            continue  # spans the whole period: nothing to unwrap
        # Gap after each occupied slice, going round the circle.
        gaps = np.diff(np.append(slices, slices[0] + size))
        cut[p] = slices[(int(np.argmax(gaps)) + 1) % slices.size]
    return cut
