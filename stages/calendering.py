"""Calendering stage: the pressed film is released and springs back; its final state is the
calendered electrode of one compression degree.

The plane rises from where its pressing (:mod:`mesosweep.stages.pressing`) stopped it, at the
roll's speed, until the film has parted from it; then the film relaxes. Springback: the relative
regain of the film's mean thickness over the plane's stop. The three steps of every stage
(:mod:`mesosweep.stages.contract`).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from mesosweep.stages.contract import RunResult, StageOutput, read_stage
from mesosweep.stages.forcefield import ForceField, release_forcefield
from mesosweep.stages.inputs import (
    Numerics,
    bridge_commands,
    clearance_um,
    film_dynamics_commands,
    film_thickness_um,
    output_commands,
    plane_commands,
    plane_return_commands,
    plane_steps,
    relax_block,
    restart_setup_commands,
)
from mesosweep.stages.lammps_data import BeadState
from mesosweep.stages.pressing import PLANE_FILE, PRESSED, read_plane
from mesosweep.stages.protocol import STATE_FILE, Commands, Protocol

STAGE = "calendering"
# The beads when the binder bridges formed: the bridges' rest lengths (their unstressed state).
BRIDGED_FILE = "bridged.data"


@dataclass(frozen=True)
class ReleaseParams:
    """What the release of one compression degree needs, built once from the sweep spec."""

    forcefield: ForceField
    temperature_K: float
    speed_um_per_us: float
    numerics: Numerics
    seed: int


def build_inputs(params: ReleaseParams, upstream: StageOutput, directory: Path) -> Protocol:
    """Write the release of the pressing ``upstream`` into ``directory``: the plane holds at its
    stop for ``calendering.dwell_us``, binder bridges form (``calendering.bridge_stiffness_N_m``),
    the plane rises until the film has parted from it, then the film relaxes."""
    directory.mkdir(parents=True, exist_ok=True)
    ff, numerics = params.forcefield, params.numerics
    shutil.copyfile(upstream.directory / PRESSED, directory / PRESSED)
    plane = read_plane(upstream.directory)
    (directory / PLANE_FILE).write_text(json.dumps(plane))
    dt = plane["dt_us"]
    cal = ff.calendering
    back = plane_steps(plane["film_top_um"] - plane["plane_um"], params.speed_um_per_us, dt)
    hold = math.ceil(cal.dwell_us / dt)
    blocks = (
        Commands(tuple([
            *restart_setup_commands(release_forcefield(ff), upstream.state, PRESSED, dt),
            *film_dynamics_commands(ff, params.temperature_K, params.seed, numerics),
            *plane_commands(ff, plane["plane_um"], 0.0, params.speed_um_per_us,
                            hold_us=cal.dwell_us),
            *([f"run {hold}"] if hold else []),
            # The binder sets in the geometry the film has when the plane lets go.
            *([*bridge_commands(ff, upstream.state), f"write_data {BRIDGED_FILE}"]
              if cal.bridges else []),
            *plane_return_commands(back, clearance_um(upstream.state)),
        ])),
        relax_block(numerics),
        Commands(tuple(output_commands())),
    )
    protocol = Protocol(STAGE, blocks, atoms=upstream.state.n, outputs={"state": STATE_FILE})
    protocol.write(directory)
    return protocol


def read_output(directory: Path) -> StageOutput:
    """Final beads and figures: mean film thickness under the plane and after release (µm),
    springback (relative regain of the mean thickness), convergence, steps."""
    def figures(state: BeadState, result: RunResult) -> dict[str, float]:
        pressed = read_plane(directory)["plane_um"]
        final = film_thickness_um(state)
        return {
            "pressed_thickness_um": pressed,
            "calendered_thickness_um": final,
            "springback": (final - pressed) / pressed,
            "calendering_converged": float(result.converge["relax"].converged),
            "calendering_steps": float(result.steps),
        }

    return read_stage(STAGE, directory, figures)
