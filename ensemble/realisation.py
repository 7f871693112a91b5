"""One realisation, start to end: structure → slurry → drying → calendering per degree → metrics.

Each stage works in its own directory under the realisation's work directory and leaves a
``result.json`` there when it finished; a rerun skips every stage whose result says done, so an
interrupted realisation restarts from its last finished stage. Runs on a Dask worker.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analysis.phases import AM
from analysis.porosity import electrode_thickness, porosity
from analysis.voxelise import voxelise
from ensemble.plan import Realisation, degrees
from ensemble.spec import Spec, resolve_forcefield
from stages import calendering, drying, slurry
from stages.forcefield import load_forcefield
from stages.inputs import STATE_FILE, Numerics, bond_spacing_um
from stages.lammps_data import AM_TYPE, CBD_TYPE, BeadState, lattice_bonds, read_data, write_data
from stages.particles import load_database
from stages.protocol import RESULT_FILE
from stages.structure import Structure, build_structure

STRUCTURE_FILE = "structure.data"
BEAD_MAP_FILE = "beads.npz"


def _done(directory: Path) -> dict | None:
    """The stage's result if it finished (result says done and its state file exists)."""
    import json  # noqa: PLC0415

    path = directory / RESULT_FILE
    if not path.exists() or not (directory / STATE_FILE).exists():
        return None
    result = json.loads(path.read_text())
    return result if result.get("status") == "done" else None


def build_initial_structure(spec: Spec, real: Realisation, database: Path) -> BeadState:
    """Draw, rotate and place secondaries and CBD beads; write the data file and bead map."""
    directory = real.workdir / "structure"
    if (directory / STRUCTURE_FILE).exists():
        return read_data(directory / STRUCTURE_FILE)
    directory.mkdir(parents=True, exist_ok=True)
    st, f = spec.structure, real.formulation
    structure = build_structure(
        load_database(database), box_um=st.box_um, am_volume_fraction=st.am_volume_fraction,
        am_mass_percent=f.am_mass_percent, cbd_mass_percent=f.cbd_mass_percent,
        am_density_g_cm3=st.am_density_g_cm3, cbd_density_g_cm3=st.cbd_density_g_cm3,
        cbd_diameter_um=st.cbd_diameter_slurry_um, cbd_check_diameter_um=st.cbd_diameter_dried_um,
        downsample=st.downsample, shape=st.shape,
        rng=np.random.default_rng(real.seeds["structure"]),
    )
    state = bead_state(structure)
    # The bead -> particle map, kept for tracking each secondary's shape between states.
    np.savez(directory / BEAD_MAP_FILE, bead_id=np.arange(1, state.n + 1), particle=state.molecule,
             psd_ks=np.float64(structure.psd_ks))
    write_data(state, directory / STRUCTURE_FILE, title=f"mesosweep {real.label} initial structure")
    return state


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


def measure(state: BeadState, voxel_size_um: float, cbd_as: str) -> dict[str, float]:
    """Porosity (fraction) and thickness (µm) of an electrode state, from its voxel image."""
    phase_img, _ = voxelise(state.position_um - state.box_lo, state.diameter_um, state.phase,
                            np.where(state.phase == AM, state.molecule, 0), state.box_um,
                            voxel_size_um)
    return {"porosity": porosity(phase_img, cbd_as=cbd_as),
            "thickness_um": electrode_thickness(phase_img, voxel_size_um)}


def numerics_of(spec: Spec, stage: str) -> Numerics:
    n = spec.numerics
    max_steps = {"slurry": n.slurry_max_steps, "drying": n.drying_max_steps}.get(stage, 0)
    return Numerics(n.timestep_fraction, n.check_steps, max_steps, n.relax_max_steps, n.tolerance)


def run_realisation(spec: Spec, real: Realisation, database: Path,
                    launcher: Sequence[str]) -> dict:
    """Run (or resume) one realisation; return its figures per compression degree.

    Raises the stage's error when a LAMMPS run fails; the caller records it.
    """
    started = time.perf_counter()
    launches = 0
    proc = spec.process
    ff_slurry = load_forcefield(resolve_forcefield(spec.numerics.forcefield_slurry))
    ff_dried = load_forcefield(resolve_forcefield(spec.numerics.forcefield_dried))
    initial = build_initial_structure(spec, real, database)

    d = real.workdir / "slurry"
    result = _done(d)
    if result is None:
        slurry.build_inputs(
            initial, d, ff=ff_slurry, temperature_K=proc.slurry_temperature_K,
            pressure_Pa=proc.slurry_pressure_Pa,
            solid_content_percent=real.formulation.solid_content_percent,
            cbd_dried_diameter_um=spec.structure.cbd_diameter_dried_um,
            cbd_density_g_cm3=spec.structure.cbd_density_g_cm3,
            numerics=numerics_of(spec, "slurry"), seed=real.seeds["slurry"])
        result = slurry.run(d, launcher)
        launches += 1
    slurry_state, slurry_fig = slurry.read_output(d, result)

    d = real.workdir / "drying"
    result = _done(d)
    if result is None:
        drying.build_inputs(
            slurry_state, d, ff=ff_dried, temperature_K=proc.drying_temperature_K,
            dried_porosity=real.formulation.dried_porosity_percent / 100.0,
            cbd_dried_diameter_um=spec.structure.cbd_diameter_dried_um,
            cbd_density_g_cm3=spec.structure.cbd_density_g_cm3,
            speed_um_per_us=proc.calendering_speed_um_per_us,
            numerics=numerics_of(spec, "drying"), seed=real.seeds["drying"])
        result = drying.run(d, launcher)
        launches += 1
    dried_state, dried_fig = drying.read_output(d, result)

    an = spec.analysis
    per_degree: dict[float, dict[str, float]] = {}
    for degree in degrees(spec):
        if degree == 0.0:
            per_degree[degree] = {**measure(dried_state, an.voxel_size_um, an.cbd_as),
                                  "springback": 0.0}
            continue
        d = real.workdir / f"calendering-{degree:.4f}"
        result = _done(d)
        if result is None:
            calendering.build_inputs(
                real.workdir / "drying" / STATE_FILE, d, ff=ff_dried,
                temperature_K=proc.calendering_temperature_K, compression_degree=degree,
                speed_um_per_us=proc.calendering_speed_um_per_us,
                numerics=numerics_of(spec, "calendering"), seed=real.seeds["calendering"])
            result = calendering.run(d, launcher)
            launches += 1
        state, fig = calendering.read_output(d, result, degree)
        per_degree[degree] = {**measure(state, an.voxel_size_um, an.cbd_as),
                              "springback": fig["springback"]}

    return {
        "case_index": real.case_index, "index": real.index, "per_degree": per_degree,
        "slurry_density_g_cm3": slurry_fig["slurry_density_g_cm3"],
        "launches": launches, "wall_s": time.perf_counter() - started,
        "host": socket.gethostname(),
    }
