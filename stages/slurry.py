"""Slurry stage: AM secondaries and CBD + solvent beads relax under NPT, periodic in x, y, z.

The stage contract (:mod:`mesosweep.stages.contract`): :func:`build_inputs` writes the data file
and LAMMPS input into the stage directory, ``contract.run`` executes it under MPI,
:func:`read_output` returns the final beads and the figures (slurry density in g/cm³,
convergence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mesosweep.errors import StageError
from mesosweep.stages.contract import RunResult, StageOutput, read_stage
from mesosweep.stages.forcefield import GPA_TO_MICRO, ForceField, barostat
from mesosweep.stages.inputs import (
    Numerics,
    dynamics_commands,
    output_commands,
    pressure_micro,
    setup_commands,
    timestep_us,
)
from mesosweep.stages.lammps_data import CBD_TYPE, BeadState, write_data
from mesosweep.stages.protocol import STATE_FILE, Commands, Converge, Protocol

STAGE = "slurry"
INPUT_DATA = "initial.data"
PUSH_OFF_STEP_UM = 0.002  # at most this far per step while initial overlaps open (µm)
PUSH_OFF_STEPS = 2000  # up to 4 µm of travel: more than the deepest initial overlap


def solvent_laden_density(state: BeadState, cbd_dried_diameter_um: float, cbd_density_g_cm3: float,
                          solid_content_percent: float) -> float:
    """Density (g/cm³) of a slurry CBD bead that carries its share of the solvent's mass.

    The solids are the AM beads plus the CBD at its dried size and density; the solvent mass
    follows from the solid content, and is spread evenly over the CBD beads (the paper's
    CBD + solvent beads), so the slurry's mass density is comparable with experiment.
    """
    cbd = state.type == CBD_TYPE
    n_cbd = int(cbd.sum())
    if n_cbd == 0:
        raise ValueError("the structure has no CBD beads to carry the solvent")
    am_mass = float(state.mass_pg[~cbd].sum())
    cbd_solid_mass = n_cbd * cbd_density_g_cm3 * math.pi / 6.0 * cbd_dried_diameter_um**3
    solids = am_mass + cbd_solid_mass
    solvent = solids * (100.0 / solid_content_percent - 1.0)
    bead_volume = math.pi / 6.0 * float(state.diameter_um[cbd].mean()) ** 3
    return (cbd_solid_mass + solvent) / n_cbd / bead_volume


@dataclass(frozen=True)
class SlurryParams:
    """What the slurry stage needs, built once per realisation from the sweep spec."""

    forcefield: ForceField
    temperature_K: float
    pressure_Pa: float
    solid_content_percent: float  # by mass
    cbd_dried_diameter_um: float
    cbd_density_g_cm3: float
    numerics: Numerics
    seed: int


def build_inputs(params: SlurryParams, upstream: StageOutput, directory: Path) -> Protocol:
    """Write the slurry's data file and LAMMPS input into ``directory``; ``upstream`` is the
    initial structure."""
    directory.mkdir(parents=True, exist_ok=True)
    ff, numerics, state = params.forcefield, params.numerics, upstream.state
    if numerics.max_steps < PUSH_OFF_STEPS + numerics.check_steps:
        raise StageError(STAGE, f"its cap of {numerics.max_steps} steps leaves no density check "
                                f"after the {PUSH_OFF_STEPS}-step push-off; raise "
                                "numerics.slurry_max_steps to at least "
                                f"{PUSH_OFF_STEPS + numerics.check_steps}")
    rho = solvent_laden_density(state, params.cbd_dried_diameter_um, params.cbd_density_g_cm3,
                                params.solid_content_percent)
    state = state.with_(density_g_cm3=np.where(state.type == CBD_TYPE, rho, state.density_g_cm3))
    write_data(state, directory / INPUT_DATA, title="mesosweep slurry initial structure")
    dt = timestep_us(ff, state, numerics.timestep_fraction)
    p = pressure_micro(params.pressure_Pa)
    # The barostat scales the box by (P - P0) / its modulus each step: a modulus well below the
    # slurry's real bulk modulus overshoots, so the parameter file states the calibrated one.
    damping_us, modulus_GPa = barostat(ff)
    bulk = modulus_GPa * GPA_TO_MICRO
    blocks = (
        Commands(tuple([
            *setup_commands(ff, state, INPUT_DATA, "p p p", dt),
            *dynamics_commands(ff, params.temperature_K, params.seed),
            f"thermo {numerics.check_steps}",
            *push_off_commands(),
            f"fix barostat all press/berendsen iso {p:.6g} {p:.6g} {damping_us:.6g} "
            f"modulus {bulk:.6g} dilate all",
        ])),
        # numerics.max_steps caps the whole stage, the push-off included.
        Converge(name="density", variable="density_g_cm3", check_steps=numerics.check_steps,
                 max_steps=numerics.max_steps - PUSH_OFF_STEPS, tolerance=numerics.tolerance,
                 min_steps=4 * numerics.check_steps, patience=numerics.patience,
                 rule=numerics.stopping_rule),
        Commands(tuple(output_commands())),
    )
    protocol = Protocol(STAGE, blocks, atoms=state.n, outputs={"state": STATE_FILE})
    protocol.write(directory)
    return protocol


def push_off_commands(step_um: float = PUSH_OFF_STEP_UM, steps: int = PUSH_OFF_STEPS) -> list[str]:
    """Separate the randomly placed CBD beads before the dynamics proper.

    The structure places CBD beads anywhere outside the AM, so two may start far inside each
    other's Lennard-Jones core, where one timestep's force would fling them across the box.
    For ``steps`` steps no bead moves more than ``step_um`` per step (``fix nve/limit``): the
    overlaps open gradually; then the normal integrator takes over.
    """
    return [
        "unfix integrate",
        f"fix integrate all nve/limit {step_um:.6g}",
        f"run {steps}",
        "unfix integrate",
        "fix integrate all nve/sphere",
    ]


def read_output(directory: Path) -> StageOutput:
    """Final beads and figures: slurry density (g/cm³), box volume (µm³), converged (0/1),
    steps."""
    def figures(state: BeadState, result: RunResult) -> dict[str, float]:
        volume = float(np.prod(state.box_um))
        return {
            "slurry_density_g_cm3": float(state.mass_pg.sum()) / volume,
            "slurry_volume_um3": volume,
            "slurry_converged": float(result.converge["density"].converged),
            "slurry_steps": float(result.steps),
        }

    return read_stage(STAGE, directory, figures)
