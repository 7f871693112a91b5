"""Electrode thickness, porosity and through-plane phase profiles of phase images.

Images are indexed ``[x, y, z]`` with z the through-plane axis and the current collector at
z = 0; labels are those of :mod:`analysis.phases`. Every solid phase (any label other than
``PORE``) defines the electrode surface.

Electrode region
----------------
The electrode occupies the layers below its mean thickness ``H`` (in voxels, usually not a
whole number). Layer ``k`` (spanning ``k <= z < k + 1`` in voxel units) enters every
average with weight ``clip(H - k, 0, 1)``: full layers count fully and the layer cut by the
mean surface counts in proportion, so porosity varies smoothly with thickness.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from mesosweep.analysis.phases import AM, CBD, PORE

__all__ = ["electrode_thickness", "porosity", "phase_profiles"]

_CBD_AS = ("solid", "pore")


def electrode_thickness(phase_image: np.ndarray, voxel_size_um: float) -> float:
    """Mean electrode thickness, in µm.

    For each (x, y) column the local thickness is the height of the top face of its
    topmost solid (AM or CBD) voxel, i.e. ``(k_top + 1) * voxel``; a column with no solid
    has thickness 0. The electrode thickness is the mean over all columns, so overhangs and
    internal voids do not matter, only the upper envelope.

    Parameters
    ----------
    phase_image : numpy.ndarray of int, shape (nx, ny, nz)
        Phase labels; z (axis 2) is through-plane, current collector at z = 0.
    voxel_size_um : float
        Voxel edge in µm.

    Returns
    -------
    float
        Mean thickness in µm (0 for an image without solid).
    """
    if not voxel_size_um > 0:
        raise ValueError(f"voxel_size_um must be > 0, got {voxel_size_um!r}")
    return float(_mean_top_face_vox(_as_image(phase_image))) * float(voxel_size_um)


def porosity(
    phase_image: np.ndarray,
    *,
    cbd_as: Literal["solid", "pore"] = "solid",
    height_vox: float | None = None,
) -> float:
    """Pore volume fraction of the electrode region.

    Parameters
    ----------
    phase_image : numpy.ndarray of int, shape (nx, ny, nz)
        Phase labels; z (axis 2) is through-plane, current collector at z = 0.
    cbd_as : {"solid", "pore"}, default "solid"
        How the carbon-binder domain counts: ``"solid"`` gives the porosity between all
        solids; ``"pore"`` merges CBD with the pores, as a two-phase XCT segmentation does.
    height_vox : float, optional
        Height of the electrode region in voxels (may be fractional). Default: the mean
        thickness of :func:`electrode_thickness` in voxels, which always uses AM and CBD
        whatever ``cbd_as`` is.

    Returns
    -------
    float
        Porosity as a fraction in [0, 1].

    Raises
    ------
    ValueError
        If ``cbd_as`` is not one of the allowed values, or the electrode region is empty.
    """
    image = _as_image(phase_image)
    if cbd_as not in _CBD_AS:
        raise ValueError(f"cbd_as must be one of {_CBD_AS}, got {cbd_as!r}")
    weights = _layer_weights(image, height_vox)
    open_phases = (PORE,) if cbd_as == "solid" else (PORE, CBD)
    open_per_layer = np.isin(image[..., : weights.size], open_phases).sum(axis=(0, 1))
    area = image.shape[0] * image.shape[1]
    return float(weights @ open_per_layer / (area * weights.sum()))


def phase_profiles(
    phase_image: np.ndarray,
    *,
    bins: int = 20,
    height_vox: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Volume fraction of each phase along the normalised electrode thickness.

    The coordinate ``z / H`` runs from 0 (current collector) to 1 (mean top surface), so
    electrodes of different thickness, simulated or from XCT, share one axis. The region
    is cut into ``bins`` equal bins; each voxel layer contributes to a bin in proportion to
    the overlap of its extent with the bin (exact rebinning, also when ``H < bins``).

    Parameters
    ----------
    phase_image : numpy.ndarray of int, shape (nx, ny, nz)
        Phase labels; z (axis 2) is through-plane, current collector at z = 0.
    bins : int, default 20
        Number of equal bins on [0, 1].
    height_vox : float, optional
        Electrode height ``H`` in voxels. Default: the mean thickness (see
        :func:`electrode_thickness`).

    Returns
    -------
    z_norm : numpy.ndarray, shape (bins,)
        Bin centres on the normalised thickness coordinate (dimensionless, 0..1).
    fractions : numpy.ndarray, shape (3, bins)
        Volume fraction of each phase per bin; row ``p`` is phase label ``p``
        (``fractions[AM]`` is the AM profile). Columns sum to 1.
    """
    image = _as_image(phase_image)
    if int(bins) != bins or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    bins = int(bins)
    height = float(_layer_weights(image, height_vox).sum())
    n_layers = int(np.ceil(height))
    counts = np.stack(
        [(image[..., :n_layers] == p).sum(axis=(0, 1)) for p in (PORE, AM, CBD)]
    ).astype(np.float64)

    # overlap[j, k]: length (in normalised units) shared by bin j and layer k.
    bin_edges = np.linspace(0.0, 1.0, bins + 1)
    layer_edges = np.minimum(np.arange(n_layers + 1) / height, 1.0)
    overlap = np.clip(
        np.minimum(bin_edges[1:, None], layer_edges[None, 1:])
        - np.maximum(bin_edges[:-1, None], layer_edges[None, :-1]),
        0.0,
        None,
    )
    fractions = (counts @ overlap.T) / (counts.sum(axis=0) @ overlap.T)
    return 0.5 * (bin_edges[1:] + bin_edges[:-1]), fractions


# --------------------------------------------------------------------------- helpers


def _as_image(phase_image: np.ndarray) -> np.ndarray:
    image = np.asarray(phase_image)
    if image.ndim != 3:
        raise ValueError(f"phase_image must be 3-D [x, y, z], got shape {image.shape}")
    return image


def _mean_top_face_vox(image: np.ndarray) -> float:
    """Mean over columns of the top-face height of the topmost solid voxel, in voxels."""
    solid = image != PORE
    # argmax on the z-reversed column finds the topmost solid voxel.
    from_top = np.argmax(solid[..., ::-1], axis=2)
    top = np.where(solid.any(axis=2), image.shape[2] - from_top, 0)
    return float(top.mean())


def _layer_weights(image: np.ndarray, height_vox: float | None) -> np.ndarray:
    """Weight of each layer from z = 0 up to the last one the electrode touches."""
    height = _mean_top_face_vox(image) if height_vox is None else float(height_vox)
    if not 0 < height <= image.shape[2]:
        raise ValueError(
            f"electrode height must be in (0, {image.shape[2]}] voxels, got {height!r}"
            + (" (the image has no solid)" if height_vox is None else "")
        )
    n_layers = int(np.ceil(height))
    return np.clip(height - np.arange(n_layers), 0.0, 1.0)
