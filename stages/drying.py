"""Drying stage: the solvent leaves, CBD beads shrink at once, the film settles onto the collector.

The slurry's periodic box is opened in z: each secondary particle is made whole across the old
z boundary, the CBD beads shrink from their slurry to their dried size and lose the solvent's mass,
the dried force field replaces the slurry's, an adhesive wall (current collector) holds z = 0, and
a plane brings the thickness down to the value the target porosity gives; then the plane is
released and the film relaxes. x and y stay periodic. The three steps of every stage
(:mod:`mesosweep.stages.contract`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mesosweep.stages.contract import RunResult, StageOutput, read_stage
from mesosweep.stages.forcefield import ForceField
from mesosweep.stages.inputs import (
    Numerics,
    electrode_top_um,
    film_thickness_um,
    pressed_film_protocol,
)
from mesosweep.stages.lammps_data import CBD_TYPE, BeadState, write_data
from mesosweep.stages.protocol import Protocol

STAGE = "drying"
INPUT_DATA = "slurry.data"
Z_HEADROOM = 1.2  # the opened box is this much taller than the film: room to relax upwards


def open_box_in_z(state: BeadState) -> BeadState:
    """Make every secondary whole across the periodic z boundary and put the film on z = 0.

    x and y stay periodic (positions wrapped, image flags kept); z becomes a fixed boundary,
    so each molecule is shifted by whole box lengths until its centre lies inside the box.
    """
    box = state.box_um
    unwrapped = state.unwrapped()
    z = unwrapped[:, 2].copy()
    for mol in np.unique(state.molecule[state.molecule > 0]):
        sel = state.molecule == mol
        centre = z[sel].mean()
        z[sel] -= np.floor((centre - state.box_lo[2]) / box[2]) * box[2]
    free = state.molecule == 0
    z[free] = state.box_lo[2] + np.mod(z[free] - state.box_lo[2], box[2])
    xy = unwrapped[:, :2] - state.box_lo[:2]
    image_xy = np.floor(xy / box[:2]).astype(np.int64)
    position = np.column_stack([xy - image_xy * box[:2] + state.box_lo[:2], z])
    position[:, 2] -= (position[:, 2] - 0.5 * state.diameter_um).min()
    height = float((position[:, 2] + 0.5 * state.diameter_um).max())
    return state.with_(
        position_um=position,
        image=np.column_stack([image_xy, np.zeros(state.n, dtype=np.int64)]),
        box_lo=np.array([state.box_lo[0], state.box_lo[1], 0.0]),
        box_hi=np.array([state.box_hi[0], state.box_hi[1], Z_HEADROOM * height]),
    )


def target_thickness_um(state: BeadState, porosity: float) -> float:
    """Film thickness (µm) at which the beads' volume leaves the pore fraction ``porosity``."""
    solid = float((np.pi / 6.0 * state.diameter_um**3).sum())
    area = float(state.box_um[0] * state.box_um[1])
    return solid / ((1.0 - porosity) * area)


@dataclass(frozen=True)
class DryingParams:
    """What the drying stage needs, built once per realisation from the sweep spec."""

    forcefield: ForceField
    temperature_K: float
    dried_porosity: float  # fraction: sets the thickness the plane brings the film to
    cbd_dried_diameter_um: float
    cbd_density_g_cm3: float
    speed_um_per_us: float  # of the plane
    numerics: Numerics
    seed: int


def build_inputs(params: DryingParams, upstream: StageOutput, directory: Path) -> Protocol:
    """Write the drying stage's data file and LAMMPS input into ``directory``; ``upstream`` is
    the slurry."""
    directory.mkdir(parents=True, exist_ok=True)
    slurry = upstream.state
    cbd = slurry.type == CBD_TYPE
    dried = open_box_in_z(slurry.with_(
        diameter_um=np.where(cbd, params.cbd_dried_diameter_um, slurry.diameter_um),
        density_g_cm3=np.where(cbd, params.cbd_density_g_cm3, slurry.density_g_cm3),
    ))
    write_data(dried, directory / INPUT_DATA, title="mesosweep dried CBD, before settling")
    target = target_thickness_um(dried, params.dried_porosity)
    protocol = pressed_film_protocol(STAGE, params.forcefield, dried, INPUT_DATA, stop_um=target,
                                     temperature_K=params.temperature_K,
                                     speed_um_per_us=params.speed_um_per_us,
                                     numerics=params.numerics, seed=params.seed)
    protocol.write(directory)
    (directory / "target.txt").write_text(f"{target:.6g} um target thickness\n")
    return protocol


def read_output(directory: Path) -> StageOutput:
    """Final beads and figures: mean film thickness and highest bead top (µm), convergence,
    steps."""
    def figures(state: BeadState, result: RunResult) -> dict[str, float]:
        return {
            "dried_thickness_um": film_thickness_um(state),
            "dried_top_um": electrode_top_um(state),
            "drying_converged": float(result.converge["relax"].converged),
            "drying_steps": float(result.steps),
        }

    return read_stage(STAGE, directory, figures)
