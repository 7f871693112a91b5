"""Metrics of a simulated electrode state: its beads voxelised, then every metric of
:mod:`mesosweep.analysis.summary` measured on the image."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from mesosweep.analysis.phases import AM
from mesosweep.analysis.summary import electrode_metrics
from mesosweep.analysis.voxelise import bead_volume_voxels, close_particle_gaps, voxelise
from mesosweep.stages.lammps_data import AM_TYPE, EDGE_BOND, FACE_BOND, BeadState


def voxel_images(state: BeadState, voxel_size_um: float) -> tuple[np.ndarray, np.ndarray]:
    """Phase and secondary-particle images of a state, with the gaps between the primaries of
    each secondary closed (the paper's post-processing) within 0.5 % of the beads' AM volume."""
    am = state.phase == AM
    phase_img, particle_img = voxelise(state.position_um - state.box_lo, state.diameter_um,
                                       state.phase, np.where(am, state.molecule, 0),
                                       state.box_um, voxel_size_um)
    return close_particle_gaps(
        phase_img, particle_img,
        reference_am_voxels=bead_volume_voxels(state.diameter_um[am], voxel_size_um))


def measure(state: BeadState, voxel_size_um: float, cbd_as: str, profile_bins: int,
            reference: BeadState | None = None) -> dict[str, np.ndarray | float]:
    """Every metric of ``analysis.summary`` for one state, on ``voxel_size_um`` voxels;
    ``reference`` (the dried state) gives each particle's deformation and rotation."""
    phase_img, particle_img = voxel_images(state, voxel_size_um)
    ref = voxel_images(reference, voxel_size_um)[1] if reference is not None else None
    return electrode_metrics(phase_img, particle_img, voxel_size_um, cbd_as=cbd_as,
                             profile_bins=profile_bins, reference_particle_image=ref)


def intra_bond_strain(state: BeadState) -> np.ndarray:
    """Relative stretch (1; 0 = at the lattice length) of every bond that holds a secondary
    together (face and edge bonds; binder bridges are not counted)."""
    intra = np.isin(state.bonds[:, 0], (FACE_BOND, EDGE_BOND))
    kind, a, b = state.bonds[intra].T
    x = state.unwrapped()
    length = np.linalg.norm(x[a] - x[b], axis=1)
    spacing = float(state.diameter_um[state.type == AM_TYPE].max()) * (np.pi / 6) ** (1 / 3)
    return length / np.where(kind == FACE_BOND, spacing, spacing * np.sqrt(2.0)) - 1.0


def closest_foreign_primary(state: BeadState) -> float:
    """Smallest centre distance between two primaries of different secondaries, in primary
    diameters: near 1 when secondaries only touch, well below when one is pushed into another."""
    am = np.flatnonzero(state.type == AM_TYPE)
    d = float(state.diameter_um[am].max())
    # x and y periodic; z open (a period far beyond the film).
    period = np.array([*state.box_um[:2], 1e3 * (state.box_um[2] + d)])
    points = state.position_um[am] - state.box_lo
    points[:, :2] %= period[:2]
    points[:, 2] += 0.5 * period[2]
    pairs = cKDTree(points, boxsize=period).query_pairs(d, output_type="ndarray")
    foreign = state.molecule[am[pairs[:, 0]]] != state.molecule[am[pairs[:, 1]]]
    if not foreign.any():
        return float("inf")
    delta = points[pairs[foreign, 0]] - points[pairs[foreign, 1]]
    delta -= np.round(delta / period) * period
    return float(np.linalg.norm(delta, axis=1).min() / d)
