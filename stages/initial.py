"""The initial structure of one realisation, as a stage without LAMMPS.

:func:`build_inputs` draws secondaries from the particle database to the PSD, rotates and places
them with CBD beads (:func:`mesosweep.stages.structure.build_structure`) and writes the beads at
full precision, so that :func:`read_output` hands the slurry exactly the beads that were built,
whether the realisation ran straight through or was resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mesosweep.stages.contract import StageOutput
from mesosweep.stages.inputs import bond_spacing_um
from mesosweep.stages.lammps_data import (
    AM_TYPE,
    CBD_TYPE,
    BeadState,
    lattice_bonds,
    read_data,
    write_data,
)
from mesosweep.stages.particles import load_database
from mesosweep.stages.protocol import BEAD_MAP_FILE, STRUCTURE_FILE
from mesosweep.stages.psd import PsdTable
from mesosweep.stages.structure import Structure, build_structure

STAGE = "structure"
EXACT_DIGITS = 17  # every bit of a double


@dataclass(frozen=True)
class StructureParams:
    """How one realisation's initial slurry box is built (lengths µm, densities g/cm³)."""

    box_um: tuple[float, float, float]
    am_volume_fraction: float
    am_mass_percent: float
    cbd_mass_percent: float
    am_density_g_cm3: float
    cbd_density_g_cm3: float
    cbd_diameter_um: float  # in the slurry
    cbd_check_diameter_um: float  # dried: the AM:CBD mass ratio is met at this size
    downsample: int
    shape: str
    psd_table: PsdTable | Path | tuple[tuple[float, float], ...] | None
    psd_sampling: str
    seed: int


def build_inputs(params: StructureParams, database: Path, directory: Path) -> None:
    """Build the structure from the particle database file ``database`` into ``directory``:
    ``structure.data`` (the beads) and ``beads.npz`` (bead -> secondary, and the PSD's KS
    distance to its target)."""
    directory.mkdir(parents=True, exist_ok=True)
    structure = build_structure(
        load_database(database), box_um=params.box_um,
        am_volume_fraction=params.am_volume_fraction, am_mass_percent=params.am_mass_percent,
        cbd_mass_percent=params.cbd_mass_percent, am_density_g_cm3=params.am_density_g_cm3,
        cbd_density_g_cm3=params.cbd_density_g_cm3, cbd_diameter_um=params.cbd_diameter_um,
        cbd_check_diameter_um=params.cbd_check_diameter_um, downsample=params.downsample,
        shape=params.shape, psd_table=params.psd_table, psd_sampling=params.psd_sampling,
        rng=np.random.default_rng(params.seed),
    )
    state = bead_state(structure)
    np.savez(directory / BEAD_MAP_FILE, bead_id=np.arange(1, state.n + 1), particle=state.molecule,
             psd_ks=np.float64(structure.psd_ks))
    write_data(state, directory / STRUCTURE_FILE, title="mesosweep initial structure",
               digits=EXACT_DIGITS)


def read_output(directory: Path) -> StageOutput:
    """The initial beads; figures: the PSD's Kolmogorov-Smirnov distance to its target (1)."""
    state = read_data(directory / STRUCTURE_FILE)
    psd_ks = float(np.load(directory / BEAD_MAP_FILE)["psd_ks"])
    return StageOutput(STAGE, directory, state, {"psd_ks": psd_ks})


def bead_state(structure: Structure) -> BeadState:
    """LAMMPS-ready beads of an initial structure: AM/CBD types, molecule = secondary id, and the
    lattice bonds that hold each secondary together."""
    molecule = structure.particle.astype(np.int64)
    state = BeadState(
        box_lo=np.zeros(3), box_hi=np.asarray(structure.box_um, dtype=float),
        type=np.where(molecule > 0, AM_TYPE, CBD_TYPE),
        position_um=np.asarray(structure.position_um, dtype=float),
        diameter_um=np.asarray(structure.diameter_um, dtype=float),
        density_g_cm3=np.asarray(structure.density_g_cm3, dtype=float), molecule=molecule,
        image=np.asarray(structure.image, dtype=np.int64), bonds=np.zeros((0, 3), dtype=np.int64),
    )
    # Bonds from unwrapped positions: a secondary may straddle the periodic boundary.
    return state.with_(bonds=lattice_bonds(state.unwrapped(), molecule, bond_spacing_um(state)))
