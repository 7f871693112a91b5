"""Metrics of a simulated electrode state: its beads voxelised, then every metric of
:mod:`mesosweep.analysis.summary` measured on the image."""

from __future__ import annotations

import numpy as np

from mesosweep.analysis.phases import AM
from mesosweep.analysis.summary import electrode_metrics
from mesosweep.analysis.voxelise import bead_volume_voxels, close_particle_gaps, voxelise
from mesosweep.stages.lammps_data import BeadState


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
