"""Every metric of one electrode state, in the fixed shapes the results store holds.

:func:`electrode_metrics` is what the ensemble runner calls for the dried electrode and for
each calendered one; :data:`METRICS` (declared in :mod:`analysis.metric_table`, re-exported
here) gives, for every name it returns, the dimensions beyond ``(case, realisation, degree)``,
the units, a description and the coordinate values (with bin edges for histograms), so the
runner can create the store variables from it.

Electrode region
----------------
Images hold the electrode from the current collector (z = 0) up to a box that may be
taller. Porosity and profiles weigh layers up to the mean thickness ``H`` (see
:mod:`analysis.porosity`); tortuosity and the pore network use the layers below
``round(H)``, so the empty space above the electrode neither conducts nor forms pores.

CBD conventions
---------------
``cbd_as="pore"`` (the default, as a two-phase XCT segmentation sees it) counts CBD as pore
in porosity and in the pore network; ``cbd_as="solid"`` counts it as solid. The tortuosity
factor is always given both ways: ``tau_*`` with pore and CBD as one conducting phase, and
``tau_*_cbd_solid`` with CBD blocking; the true value for a nanoporous CBD lies between.

Histograms
----------
Counts per bin on fixed edges (the ``*_lower`` / ``*_upper`` values of each bin coordinate);
values outside the edges go to ``*_out_of_range`` (``below``, ``above``), never dropped.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from mesosweep.analysis.distributions import histogram, quantiles

# The declaration of what is returned lives apart (readers of the shapes need no image
# processing); it stays part of this module's public API.
from mesosweep.analysis.metric_table import (
    METRICS,
    ORIENTATION_EDGES_DEG,
    PORE_RADIUS_EDGES_UM,
    RADIUS_THRESHOLD_UM,
    SPHERICITY_EDGES,
    THROAT_RADIUS_EDGES_UM,
    Coordinate,
    Metric,
    metrics_table,
)
from mesosweep.analysis.particle_shape import particle_shapes, track_particles
from mesosweep.analysis.phases import AM, CBD, PORE
from mesosweep.analysis.pore_network import pore_network
from mesosweep.analysis.porosity import electrode_thickness, phase_profiles, porosity
from mesosweep.analysis.tortuosity import tortuosity_factor

__all__ = [
    "METRICS",
    "ORIENTATION_EDGES_DEG",
    "PORE_RADIUS_EDGES_UM",
    "SPHERICITY_EDGES",
    "THROAT_RADIUS_EDGES_UM",
    "Coordinate",
    "Metric",
    "electrode_metrics",
    "metrics_table",
]



def _slab_means(slab: np.ndarray, values: np.ndarray, bins: int) -> np.ndarray:
    """Mean of ``values`` per slab index (NaN for an empty slab)."""
    total = np.bincount(slab, weights=values, minlength=bins)
    count = np.bincount(slab, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def electrode_metrics(
    phase_image: np.ndarray,
    particle_image: np.ndarray,
    voxel_size_um: float,
    *,
    cbd_as: Literal["pore", "solid"] = "pore",
    profile_bins: int = 20,
    reference_particle_image: np.ndarray | None = None,
    height_um: float | None = None,
    periodic_xy: bool = True,
) -> dict[str, np.ndarray | float]:
    """All metrics of one electrode state, shaped as :data:`METRICS` declares.

    Parameters
    ----------
    phase_image : numpy.ndarray of uint8, shape (nx, ny, nz)
        ``PORE`` / ``AM`` / ``CBD`` labels, z through-plane, current collector at z = 0.
    particle_image : numpy.ndarray of int, shape (nx, ny, nz)
        Secondary-particle id on AM voxels, 0 elsewhere (x and y periodic).
    voxel_size_um : float
        Voxel edge, µm.
    cbd_as : {"pore", "solid"}, default "pore"
        How CBD counts in porosity and the pore network (tortuosity is given both ways).
    profile_bins : int, default 20
        Bins of the thickness profiles; use :func:`metrics_table` with the same number.
    reference_particle_image : numpy.ndarray of int, optional
        Particle image of the reference state (the dried electrode) for deformation and
        rotation; without it those metrics are NaN.
    height_um : float, optional
        Height of the electrode region, µm, when the image does not show the electrode's top
        surface (an interior XCT crop is electrode from bottom to top: pass its height).
        By default the thickness is measured from the image (top of the highest solid voxel
        of each column, averaged).
    periodic_xy : bool, default True
        Whether particles wrap across the x and y faces (simulations); False for XCT crops.

    Returns
    -------
    dict of str to float or numpy.ndarray
        Keys and shapes of :func:`metrics_table` ``(profile_bins)``; units there.
    """
    phase = np.asarray(phase_image)
    particles = np.asarray(particle_image)
    if phase.ndim != 3 or phase.shape != particles.shape:
        raise ValueError(
            "phase_image and particle_image must be 3-D of one shape, got "
            f"{phase.shape} and {particles.shape}"
        )
    if cbd_as not in ("pore", "solid"):
        raise ValueError(f"cbd_as must be 'pore' or 'solid', got {cbd_as!r}")
    v = float(voxel_size_um)
    out: dict[str, np.ndarray | float] = {}

    thickness = electrode_thickness(phase, v) if height_um is None else float(height_um)
    height_vox = None if height_um is None else thickness / v
    out["porosity"] = porosity(phase, cbd_as=cbd_as, height_vox=height_vox)
    out["thickness"] = thickness
    # Transport and pores over the whole layers of the electrode region.
    region = phase[..., : max(1, round(thickness / v))]
    merged, blocked = region != AM, region == PORE
    out["tau_z"] = tortuosity_factor(merged, axis=2).tau
    out["tau_x"] = tortuosity_factor(merged, axis=0).tau
    out["tau_z_cbd_solid"] = tortuosity_factor(blocked, axis=2).tau
    out["tau_x_cbd_solid"] = tortuosity_factor(blocked, axis=0).tau

    _, fractions = phase_profiles(phase, bins=profile_bins, height_vox=height_vox)
    out["pore_profile"] = fractions[PORE]
    out["am_profile"] = fractions[AM]
    out["cbd_profile"] = fractions[CBD]

    network = pore_network(
        merged if cbd_as == "pore" else blocked,
        v,
        height_um=thickness,
        radius_threshold_um=RADIUS_THRESHOLD_UM,
    )
    large = network.large
    radii = network.radius_um[large]
    out["pore_count"] = float(np.count_nonzero(large))
    out["pore_radius_mean"] = float(radii.mean()) if radii.size else np.nan
    out["pore_radius_quantiles"] = quantiles(radii)
    out.update(_histogram_entries("pore_radius", network.radius_um, PORE_RADIUS_EDGES_UM))
    out["coordination_mean"] = (
        float(network.coordination[large].mean()) if radii.size else np.nan
    )
    slab = np.minimum((network.position_norm[large] * profile_bins).astype(int), profile_bins - 1)
    out["pore_radius_profile"] = _slab_means(slab, radii, profile_bins)
    out["coordination_profile"] = _slab_means(
        slab, network.coordination[large].astype(float), profile_bins)
    throats = network.throat_radius_um[network.large_throats]
    out["throat_radius_quantiles"] = quantiles(throats)
    out.update(_histogram_entries("throat_radius", throats, THROAT_RADIUS_EDGES_UM))

    periodic = (periodic_xy, periodic_xy, False)
    shapes = particle_shapes(np.where(phase == AM, particles, 0), v, periodic=periodic)
    out["particle_count"] = float(shapes.label.size)
    out["sphericity_quantiles"] = quantiles(shapes.sphericity)
    out["sphericity_histogram"] = histogram(shapes.sphericity, SPHERICITY_EDGES).counts
    out["orientation_mean"] = (
        float(shapes.orientation_deg.mean()) if shapes.label.size else np.nan
    )
    out["orientation_histogram"] = histogram(shapes.orientation_deg, ORIENTATION_EDGES_DEG).counts

    out["deformation_mean"] = np.full(3, np.nan)
    out["rotation_mean"] = np.nan
    if reference_particle_image is not None:
        reference = np.asarray(reference_particle_image)
        if reference.ndim != 3:
            raise ValueError("reference_particle_image must be 3-D")
        change = track_particles(particle_shapes(reference, v), shapes)
        if change.label.size:
            out["deformation_mean"] = change.deformation.mean(axis=0)
            out["rotation_mean"] = float(change.rotation_deg.mean())
    return {name: out[name] for name in metrics_table(profile_bins)}


def _histogram_entries(name: str, values: np.ndarray, edges: np.ndarray) -> dict[str, np.ndarray]:
    h = histogram(values, edges)
    return {
        f"{name}_histogram": h.counts,
        f"{name}_out_of_range": np.array([h.underflow, h.overflow], dtype=np.int64),
    }
