"""Pressing stage: a plane moves down at constant speed to a compression degree and stops there.

Compression degree c: the plane stops at (1 - c) times the dried film's mean thickness (the
thickness the analysis measures porosity over, ``film_thickness_um``).

The plane's way down is shared between the degrees, as one pass of a roll: the pressing to
degree c continues the pressing to the next smaller degree from its restart file (contact
histories included) rather than pressing the dried film again from its top, so the degrees cost
one descent to the deepest instead of one descent each. The release of each degree
(:mod:`mesosweep.stages.calendering`) starts from the restart written when the plane reached its
stop. The three steps of every stage (:mod:`mesosweep.stages.contract`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from mesosweep.stages.contract import RunResult, StageOutput, read_stage
from mesosweep.stages.forcefield import ForceField
from mesosweep.stages.inputs import (
    Numerics,
    cbd_compaction_commands,
    electrode_top_um,
    film_dynamics_commands,
    film_thickness_um,
    output_commands,
    plane_commands,
    plane_steps,
    restart_setup_commands,
    setup_commands,
    timestep_us,
)
from mesosweep.stages.lammps_data import CBD_TYPE, BeadState, write_data
from mesosweep.stages.protocol import STATE_FILE, Commands, Protocol

STAGE = "pressing"
INPUT_DATA = "dried.data"
PRESSED = "pressed.restart"  # written by a pressing, read by the next pressing and the release
PREVIOUS = "previous.restart"  # a pressing's copy of the previous pressing's restart
# Where the pressing left the plane, and what every later pressing and release needs of the
# dried film (its mean thickness and top, µm; the timestep, µs), computed once from it.
PLANE_FILE = "plane.json"


@dataclass(frozen=True)
class PressingParams:
    """What one pressing needs, built once per realisation from the sweep spec."""

    forcefield: ForceField
    temperature_K: float
    compression_degree: float  # fraction of the dried mean thickness the plane removes
    speed_um_per_us: float
    numerics: Numerics
    seed: int


def read_plane(directory: Path) -> dict[str, float]:
    """The plane record a pressing left in ``directory`` (see ``PLANE_FILE``)."""
    return json.loads((directory / PLANE_FILE).read_text())


def build_inputs(params: PressingParams, upstream: StageOutput, directory: Path) -> Protocol:
    """Write the pressing to ``params.compression_degree`` into ``directory``: from the dried
    film's top when ``upstream`` is the drying stage, or on from where the pressing
    ``upstream`` (a smaller degree) stopped."""
    directory.mkdir(parents=True, exist_ok=True)
    ff, numerics = params.forcefield, params.numerics
    if upstream.stage == STAGE:
        dried = read_plane(upstream.directory)
        start, dt = dried["plane_um"], dried["dt_us"]
        shutil.copyfile(upstream.directory / PRESSED, directory / PREVIOUS)
        setup = restart_setup_commands(ff, upstream.state, PREVIOUS, dt)
    else:
        state = upstream.state
        dt = timestep_us(ff, state, numerics.timestep_fraction)
        dried = {"dried_thickness_um": film_thickness_um(state),
                 "film_top_um": electrode_top_um(state), "dt_us": dt,
                 "cbd_diameter_um": float(state.diameter_um[state.type == CBD_TYPE].max())}
        start = dried["film_top_um"]
        # LAMMPS reads the dried film here only; later stages start from restarts. Re-written
        # rather than copied: LAMMPS cannot read back the zero per-type masses it writes.
        write_data(state, directory / INPUT_DATA, title="mesosweep dried electrode")
        setup = setup_commands(ff, state, INPUT_DATA, "p p f", dt,
                               bridge_room=ff.calendering.bridges)
    stop = (1.0 - params.compression_degree) * dried["dried_thickness_um"]
    if not stop < start:
        raise ValueError(f"compression degree {params.compression_degree}: the plane would stop "
                         f"at {stop:.4g} um, not below where it starts ({start:.4g} um)")
    steps = plane_steps(start - stop, params.speed_um_per_us, dt)
    blocks = (Commands(tuple([
        *setup,
        *film_dynamics_commands(ff, params.temperature_K, params.seed, numerics),
        *plane_commands(ff, start, start - stop, params.speed_um_per_us),
        *(cbd_compaction_commands(ff, dried["cbd_diameter_um"], dried["dried_thickness_um"])
          if ff.calendering.cbd_compaction > 0.0 else []),
        f"run {steps}",
        f"write_restart {PRESSED}",
        *output_commands(),
    ])),)
    plane = {"plane_um": stop, "film_top_um": dried["film_top_um"], "steps": steps,
             "dried_thickness_um": dried["dried_thickness_um"], "dt_us": dt,
             "cbd_diameter_um": dried["cbd_diameter_um"]}
    (directory / PLANE_FILE).write_text(json.dumps(plane))
    protocol = Protocol(STAGE, blocks, atoms=upstream.state.n,
                        outputs={"state": STATE_FILE, "restart": PRESSED})
    protocol.write(directory)
    return protocol


def read_output(directory: Path) -> StageOutput:
    """Final beads (under the plane) and figures: the plane's height (µm) and the steps."""
    def figures(state: BeadState, result: RunResult) -> dict[str, float]:
        return {"plane_um": read_plane(directory)["plane_um"],
                "pressing_steps": float(result.steps)}

    return read_stage(STAGE, directory, figures)
