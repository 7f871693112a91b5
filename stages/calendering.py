"""Calendering stage: a plane moves down at constant speed to a compression degree, is released,
and the electrode springs back. One dried electrode feeds every compression degree (branches).

Compression degree c: the plane stops at (1 - c) times the dried film's mean thickness (the
thickness the analysis measures porosity over, ``film_thickness_um``). Springback: the relative
regain of that mean thickness after release. Three steps, as every stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stages.forcefield import ForceField
from stages.inputs import (
    STATE_FILE,
    Numerics,
    film_thickness_um,
    pressed_film_protocol,
    run_protocol,
)
from stages.lammps_data import BeadState, read_data, write_data
from stages.protocol import Protocol

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
    stop = (1.0 - compression_degree) * film_thickness_um(dried)
    protocol = pressed_film_protocol(STAGE, ff, dried, INPUT_DATA, stop_um=stop,
                                     temperature_K=temperature_K,
                                     speed_um_per_us=speed_um_per_us, numerics=numerics, seed=seed)
    protocol.write(directory)
    return protocol


def run(directory: Path, launcher: Sequence[str]) -> dict:
    """Run the calendering protocol in ``directory`` under ``launcher``."""
    return run_protocol(directory, launcher)


def read_output(directory: Path, result: dict, compression_degree: float
                ) -> tuple[BeadState, dict[str, float]]:
    """Final beads and figures: mean film thickness under the plane and after release (µm),
    springback (relative regain of the mean thickness)."""
    dried = film_thickness_um(read_data(directory / INPUT_DATA))
    state = read_data(directory / STATE_FILE)
    pressed = (1.0 - compression_degree) * dried
    final = film_thickness_um(state)
    figures = {
        "pressed_thickness_um": pressed,
        "calendered_thickness_um": final,
        "springback": (final - pressed) / pressed,
        "calendering_converged": float(result["converge"]["relax"]["converged"]),
        "calendering_steps": float(result["steps"]),
    }
    return state, figures
