"""Calendering stage: a plane moves down at constant speed to a compression degree, is released,
and the electrode springs back. One dried electrode feeds every compression degree.

Compression degree c: the plane stops at (1 - c) times the dried film's mean thickness (the
thickness the analysis measures porosity over, ``film_thickness_um``). Springback: the relative
regain of that mean thickness after release.

The plane's way down is shared between the degrees, as one pass of a roll: the *pressing* to
degree c continues the pressing to the next smaller degree from its restart file (contact
histories included) rather than pressing the dried film again from its top, so the degrees cost
one descent to the deepest instead of one descent each. The *release* of degree c starts from
the restart written when the plane reached its stop. Each is a stage of three steps.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from mesosweep.stages.forcefield import ForceField
from mesosweep.stages.inputs import (
    STATE_FILE,
    Numerics,
    clearance_um,
    electrode_top_um,
    film_dynamics_commands,
    film_thickness_um,
    output_commands,
    plane_commands,
    plane_return_commands,
    plane_steps,
    relax_block,
    restart_setup_commands,
    run_protocol,
    setup_commands,
    timestep_us,
)
from mesosweep.stages.lammps_data import BeadState, read_data, write_data
from mesosweep.stages.protocol import Commands, Protocol

STAGE = "calendering"
PRESS_STAGE = "pressing"
INPUT_DATA = "dried.data"
PRESSED = "pressed.restart"  # written by a pressing, read by the next pressing and the release
PREVIOUS = "previous.restart"  # a pressing's copy of the previous pressing's restart
PLANE_FILE = "plane.json"  # where the pressing left the plane, for the next stages


def stop_um(dried: BeadState, compression_degree: float) -> float:
    """Height (µm) where the plane stops for ``compression_degree``."""
    return (1.0 - compression_degree) * film_thickness_um(dried)


def build_press_inputs(dried_data: Path, directory: Path, *, previous: Path | None,
                       ff: ForceField, temperature_K: float, compression_degree: float,
                       speed_um_per_us: float, numerics: Numerics, seed: int) -> Protocol:
    """Write the pressing to ``compression_degree`` into ``directory``: from the dried film's
    top, or on from the pressing directory ``previous`` (a smaller degree) where it stopped."""
    directory.mkdir(parents=True, exist_ok=True)
    dried = read_data(dried_data)
    dt = timestep_us(ff, dried, numerics.timestep_fraction)
    if previous is None:
        # LAMMPS reads the dried film here only; later stages start from restarts. Re-written
        # rather than copied: LAMMPS cannot read back the zero per-type masses it writes.
        write_data(dried, directory / INPUT_DATA, title="mesosweep dried electrode")
        start = electrode_top_um(dried)
        setup = setup_commands(ff, dried, INPUT_DATA, "p p f", dt)
    else:
        start = json.loads((previous / PLANE_FILE).read_text())["plane_um"]
        shutil.copyfile(previous / PRESSED, directory / PREVIOUS)
        setup = restart_setup_commands(ff, dried, PREVIOUS, dt)
    stop = stop_um(dried, compression_degree)
    if not stop < start:
        raise ValueError(f"compression degree {compression_degree}: the plane would stop at "
                         f"{stop:.4g} um, not below where it starts ({start:.4g} um)")
    steps = plane_steps(start - stop, speed_um_per_us, dt)
    blocks = (Commands(tuple([
        *setup,
        *film_dynamics_commands(ff, temperature_K, seed, numerics),
        *plane_commands(ff, start, start - stop, speed_um_per_us),
        f"run {steps}",
        f"write_restart {PRESSED}",
        *output_commands(),
    ])),)
    plane = {"plane_um": stop, "film_top_um": electrode_top_um(dried), "steps": steps}
    (directory / PLANE_FILE).write_text(json.dumps(plane))
    protocol = Protocol(PRESS_STAGE, blocks, atoms=dried.n,
                        outputs={"state": STATE_FILE, "restart": PRESSED})
    protocol.write(directory)
    return protocol


def build_inputs(dried_data: Path, pressing: Path, directory: Path, *, ff: ForceField,
                 temperature_K: float, speed_um_per_us: float, numerics: Numerics,
                 seed: int) -> Protocol:
    """Write the release from the pressing directory ``pressing`` into ``directory``: the plane
    rises from its stop until the film has parted from it, then the film relaxes."""
    directory.mkdir(parents=True, exist_ok=True)
    dried = read_data(dried_data)
    shutil.copyfile(pressing / PRESSED, directory / PRESSED)
    plane = json.loads((pressing / PLANE_FILE).read_text())
    (directory / PLANE_FILE).write_text(json.dumps(plane))
    dt = timestep_us(ff, dried, numerics.timestep_fraction)
    back = plane_steps(plane["film_top_um"] - plane["plane_um"], speed_um_per_us, dt)
    blocks = (
        Commands(tuple([
            *restart_setup_commands(ff, dried, PRESSED, dt),
            *film_dynamics_commands(ff, temperature_K, seed, numerics),
            *plane_commands(ff, plane["plane_um"], 0.0, speed_um_per_us),
            *plane_return_commands(back, clearance_um(dried)),
        ])),
        relax_block(numerics),
        Commands(tuple(output_commands())),
    )
    protocol = Protocol(STAGE, blocks, atoms=dried.n, outputs={"state": STATE_FILE})
    protocol.write(directory)
    return protocol


def run(directory: Path, launcher: Sequence[str]) -> dict:
    """Run a pressing or release protocol in ``directory`` under ``launcher``."""
    return run_protocol(directory, launcher)


def read_output(directory: Path, result: dict) -> tuple[BeadState, dict[str, float]]:
    """Final beads and figures of a release: mean film thickness under the plane and after
    release (µm), springback (relative regain of the mean thickness)."""
    state = read_data(directory / STATE_FILE)
    pressed = json.loads((directory / PLANE_FILE).read_text())["plane_um"]
    final = film_thickness_um(state)
    figures = {
        "pressed_thickness_um": pressed,
        "calendered_thickness_um": final,
        "springback": (final - pressed) / pressed,
        "calendering_converged": float(result["converge"]["relax"]["converged"]),
        "calendering_steps": float(result["steps"]),
    }
    return state, figures
