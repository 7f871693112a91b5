"""Calendering stage: a plane moves down at constant speed to a compression degree, is released,
and the electrode springs back. One dried electrode feeds every compression degree (branches).

Compression degree c: the plane stops at (1 - c) times the dried thickness (top of the highest
bead). Springback: the relative regain of thickness after release. Three steps, as every stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stages.forcefield import ForceField
from stages.inputs import (
    STATE_FILE,
    Numerics,
    collector_commands,
    dynamics_commands,
    electrode_top_um,
    output_commands,
    press_and_release,
    run_protocol,
    setup_commands,
    timestep_us,
)
from stages.lammps_data import BeadState, read_data, write_data
from stages.protocol import Commands, Protocol

STAGE = "calendering"
INPUT_DATA = "dried.data"


def build_inputs(dried_data: Path, directory: Path, *, ff: ForceField, temperature_K: float,
                 compression_degree: float, speed_um_per_us: float, numerics: Numerics,
                 seed: int) -> Protocol:
    """Write the calendering protocol for one compression degree into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    # Re-written rather than copied: LAMMPS cannot read back the zero per-type masses it writes.
    dried = read_data(dried_data)
    write_data(dried, directory / INPUT_DATA, title="mesosweep dried electrode")
    dt = timestep_us(ff, dried, numerics.timestep_fraction)
    top = electrode_top_um(dried)
    press, relax = press_and_release(ff, top, (1.0 - compression_degree) * top, speed_um_per_us,
                                     dt, numerics)
    blocks = (
        Commands(tuple([
            *setup_commands(ff, dried, INPUT_DATA, "p p f", dt),
            *dynamics_commands(ff, temperature_K, seed),
            *collector_commands(ff),
            f"thermo {numerics.check_steps}",
        ])),
        press,
        relax,
        Commands(tuple(output_commands())),
    )
    protocol = Protocol(STAGE, blocks, atoms=dried.n, outputs={"state": STATE_FILE})
    protocol.write(directory)
    return protocol


def run(directory: Path, launcher: Sequence[str]) -> dict:
    """Run the calendering protocol in ``directory`` under ``launcher``."""
    return run_protocol(directory, launcher)


def read_output(directory: Path, result: dict, compression_degree: float
                ) -> tuple[BeadState, dict[str, float]]:
    """Final beads and figures: thickness under the plane and after release (µm), springback."""
    dried_top = electrode_top_um(read_data(directory / INPUT_DATA))
    state = read_data(directory / STATE_FILE)
    pressed = (1.0 - compression_degree) * dried_top
    final = electrode_top_um(state)
    figures = {
        "pressed_thickness_um": pressed,
        "calendered_thickness_um": final,
        "springback": (final - pressed) / pressed,
        "calendering_converged": float(result["converge"]["relax"]["converged"]),
        "calendering_steps": float(result["steps"]),
    }
    return state, figures
