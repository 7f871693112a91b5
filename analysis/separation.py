"""Separation of touching secondary particles in a labelled volume (distance-transform watershed).

The recipe follows the paper's methods (Xu et al., section 2.2): take the active-material (AM)
phase, erode one voxel so that touching particles come apart, separate them with a
distance-transform watershed, dilate the labels back inside the AM phase, and keep only the
particles that are whole (not cut by the volume's border). :func:`separate_particles` labels
the particles of an AM mask; :func:`extract_particles` turns a labelled volume into a
:class:`stages.particles.ParticleDatabase` of its whole particles (docs/particle-database.md).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

from mesosweep.stages.particles import ParticleDatabase, Progress, array_sha256

__all__ = ["extract_particles", "separate_particles", "watershed_markers"]


def _face_structure() -> np.ndarray:
    """6-connectivity structuring element: erosion and dilation by one voxel across a face."""
    return ndi.generate_binary_structure(3, 1)


def watershed_markers(
    distance: np.ndarray,
    components: np.ndarray,
    *,
    min_distance_vox: int,
    smooth_sigma_vox: float,
    min_peak_vox: float,
) -> np.ndarray:
    """Markers at the peaks of the (smoothed) distance transform, one label per peak.

    Parameters
    ----------
    distance : numpy.ndarray of float
        Euclidean distance transform of the eroded AM phase, voxels.
    components : numpy.ndarray of int
        Connected components of the eroded AM phase; peaks are searched in each.
    min_distance_vox : int
        Minimum separation of two peaks, voxels; the main knob against over-segmentation.
    smooth_sigma_vox : float
        Gaussian smoothing of the distance map before the peak search, voxels; removes the
        spurious maxima that voxel steps create on flat ridges. 0 disables it.
    min_peak_vox : float
        Peaks lower than this (a particle's inscribed radius, voxels) are ignored.

    Returns
    -------
    numpy.ndarray of int32
        Marker image: 0 outside markers, 1..K at the peaks.
    """
    landscape = (ndi.gaussian_filter(distance, smooth_sigma_vox) if smooth_sigma_vox > 0
                 else distance)
    peaks = peak_local_max(
        landscape,
        min_distance=max(int(min_distance_vox), 1),
        threshold_abs=min_peak_vox,
        labels=components,
        exclude_border=False,
    )
    markers = np.zeros(distance.shape, dtype=np.int32)
    # No peak at all (every particle eroded away) comes back as shape (0,), not (0, 3).
    peaks = np.reshape(peaks, (-1, distance.ndim))
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    return markers


def _label_unreached(labels: np.ndarray, solid: np.ndarray) -> np.ndarray:
    """Give every solid component that no marker reached a label of its own."""
    leftover, count = ndi.label(solid & (labels == 0), structure=_face_structure())
    if count:
        start = int(labels.max())
        labels = np.where(leftover > 0, leftover + start, labels).astype(np.int32)
    return labels


def _dilate_within(labels: np.ndarray, phase: np.ndarray, steps: int) -> np.ndarray:
    """Grow labels by ``steps`` face-neighbour layers, only into unlabelled voxels of ``phase``."""
    footprint = _face_structure()
    for _ in range(steps):
        grown = ndi.grey_dilation(labels, footprint=footprint)
        fill = (labels == 0) & phase & (grown > 0)
        if not fill.any():
            break
        labels = np.where(fill, grown, labels)
    return labels


def _border_labels(labels: np.ndarray) -> np.ndarray:
    """Labels present on any face of the volume."""
    faces = [labels[0], labels[-1], labels[:, 0], labels[:, -1], labels[:, :, 0], labels[:, :, -1]]
    return np.unique(np.concatenate([f.ravel() for f in faces]))


def separate_particles(
    am_mask: np.ndarray,
    *,
    erosion_vox: int = 1,
    min_distance_vox: int = 5,
    smooth_sigma_vox: float = 1.0,
    min_peak_vox: float = 1.0,
    progress: Progress | None = None,
) -> np.ndarray:
    """Label individual particles of an AM mask (erode, watershed, dilate back).

    Parameters
    ----------
    am_mask : numpy.ndarray of bool, 3-D
        Active-material voxels.
    erosion_vox : int
        Voxel layers eroded before the watershed and dilated back after it.
    min_distance_vox, smooth_sigma_vox, min_peak_vox
        Marker parameters, see :func:`watershed_markers`.
    progress : callable(done, total), optional
        Called after each of the five steps.

    Returns
    -------
    numpy.ndarray of int32
        Particle labels 1..K, 0 elsewhere; border particles are *not* removed here.
    """
    total = 5
    report = progress or (lambda done, total: None)
    if erosion_vox < 0:
        raise ValueError(f"erosion_vox must be >= 0, got {erosion_vox}")
    eroded = am_mask
    if erosion_vox > 0:
        eroded = ndi.binary_erosion(am_mask, structure=_face_structure(), iterations=erosion_vox)
    report(1, total)
    distance = ndi.distance_transform_edt(eroded).astype(np.float32)
    components, _ = ndi.label(eroded, structure=_face_structure())
    report(2, total)
    markers = watershed_markers(
        distance,
        components,
        min_distance_vox=min_distance_vox,
        smooth_sigma_vox=smooth_sigma_vox,
        min_peak_vox=min_peak_vox,
    )
    report(3, total)
    labels = watershed(-distance, markers, mask=eroded).astype(np.int32)
    labels = _label_unreached(labels, eroded)
    report(4, total)
    labels = _dilate_within(labels, am_mask, erosion_vox)
    report(5, total)
    return labels


def _whole_particle_masks(labels: np.ndarray, min_voxels: int) -> list[np.ndarray]:
    """Cropped masks of the labels that avoid the border and hold at least ``min_voxels``."""
    on_border = set(_border_labels(labels).tolist())
    counts = np.bincount(labels.ravel())
    masks = []
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None or index in on_border or counts[index] < min_voxels:
            continue
        masks.append(labels[box] == index)
    return masks


def extract_particles(
    labels: np.ndarray,
    voxel_size_um: float,
    *,
    am_label: int = 1,
    erosion_vox: int = 1,
    min_distance_vox: int = 5,
    smooth_sigma_vox: float = 1.0,
    min_peak_vox: float = 1.0,
    min_voxels: int = 27,
    source: str = "array",
    progress: Progress | None = None,
) -> ParticleDatabase:
    """Separate the whole secondary particles of a labelled volume into a database.

    Steps: AM mask → erode ``erosion_vox`` voxels → distance-transform watershed with markers
    at the peaks of the (smoothed) distance map → dilate the labels back within the AM phase →
    drop particles touching the volume's border → drop fragments below ``min_voxels``.

    Parameters
    ----------
    labels : numpy.ndarray of int, 3-D
        Labelled volume, indexed [x, y, z].
    voxel_size_um : float
        Voxel edge length, µm.
    am_label : int
        Label of the active material in ``labels``.
    erosion_vox : int
        Erosion (and re-dilation) depth, voxels; the paper uses 1.
    min_distance_vox : int
        Minimum distance between two watershed markers, voxels.
    smooth_sigma_vox : float
        Gaussian smoothing of the distance map before the peak search, voxels.
    min_peak_vox : float
        Smallest distance-map peak accepted as a marker, voxels.
    min_voxels : int
        Particles with fewer voxels are dropped as fragments.
    source : str
        Provenance stored in the database (a path or a description).
    progress : callable(done, total), optional
        Progress callback; called after each of six steps.

    Returns
    -------
    ParticleDatabase
        One record per whole particle, in label order.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError("extract_particles: expected a 3-D labelled volume, got shape "
                         f"{labels.shape}")
    if not voxel_size_um > 0:
        raise ValueError(f"extract_particles: voxel_size_um must be > 0, got {voxel_size_um}")
    am_mask = labels == am_label
    if not am_mask.any():
        raise ValueError(f"extract_particles: label {am_label} (AM) is absent from the volume")

    def step(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total + 1)

    particle_labels = separate_particles(
        am_mask,
        erosion_vox=erosion_vox,
        min_distance_vox=min_distance_vox,
        smooth_sigma_vox=smooth_sigma_vox,
        min_peak_vox=min_peak_vox,
        progress=step,
    )
    masks = _whole_particle_masks(particle_labels, min_voxels)
    database = ParticleDatabase.from_masks(
        masks, voxel_size_um, source=source, source_sha256=array_sha256(labels)
    )
    if progress is not None:
        progress(6, 6)
    return database
