"""One realisation, start to end: structure → slurry → drying → calendering per degree → metrics.

Each stage works in its own directory under the realisation's work directory and leaves a
``result.json`` there when it finished; a rerun skips every stage whose result says done, so an
interrupted realisation restarts from its last finished stage. Runs on a Dask worker.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from analysis.phases import AM
from analysis.porosity import electrode_thickness, porosity
from analysis.voxelise import voxelise
from ensemble import store
from ensemble.plan import Realisation, degrees
from ensemble.spec import Spec, resolve_forcefield
from stages import calendering, drying, slurry
from stages.forcefield import load_forcefield
from stages.inputs import STATE_FILE, Numerics, StageError, bond_spacing_um
from stages.lammps_data import AM_TYPE, CBD_TYPE, BeadState, lattice_bonds, read_data, write_data
from stages.particles import load_database
from stages.protocol import RESULT_FILE
from stages.structure import Structure, build_structure

STRUCTURE_FILE = "structure.data"
BEAD_MAP_FILE = "beads.npz"
LAUNCH_LOG = "launches.log"  # one line per LAMMPS launch, over every attempt


def _run_once(rec: _Recorder, directory: Path, build: Callable[[Path], object],
              run: Callable[[Path, Sequence[str]], dict], launcher: Sequence[str]) -> dict:
    """A stage's result: from ``directory`` if it finished before, else from a fresh run.

    The run happens in a private temporary directory that is renamed to ``directory`` only when
    it finished, so an interrupted or concurrent attempt never leaves a half-written stage.
    """
    result = _done(directory)
    if result is not None:
        return result
    tmp = directory.with_name(f".{directory.name}.{uuid.uuid4().hex[:12]}.tmp")
    build(tmp)
    rec.lammps(run, tmp, launcher)
    try:
        os.rename(tmp, directory)
    except OSError:  # another attempt published this stage first; its result stands
        shutil.rmtree(tmp, ignore_errors=True)
    return _done(directory)


def _clear_interrupted(workdir: Path) -> None:
    """Remove the temporary stage directories of interrupted attempts."""
    for tmp in workdir.glob(".*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)


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
        downsample=st.downsample, shape=st.shape, psd_table=st.psd_table,
        psd_sampling=st.psd_sampling,
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


class _Recorder:
    """Writes the realisation's progress into its own chunks of the store, as it happens."""

    def __init__(self, store_path: Path | None, real: Realisation):
        self.group = store.writer(store_path) if store_path is not None else None
        self.real = real
        self.launches = 0
        self.steps = 0

    def write(self, **values) -> None:
        if self.group is not None:
            store.write_realisation(self.group, self.real.case_index, self.real.index, values)

    def stage(self, name: str, status: int, wall: float = float("nan"), steps: int = 0) -> None:
        if self.group is not None:
            store.write_stage(self.group, self.real.case_index, self.real.index, name, status,
                              wall, steps)

    def lammps(self, run, directory: Path, launcher: Sequence[str]) -> dict:
        """Run one LAMMPS stage, counting the launch in the realisation's launch log."""
        self.launches += 1
        with open(self.real.workdir / LAUNCH_LOG, "a") as log:
            log.write(f"{directory.name} {time.time():.3f}\n")
        result = run(directory, launcher)
        self.steps += int(result["steps"])
        return result



def run_realisation(spec: Spec, real: Realisation, database: Path, launcher: Sequence[str],
                    store_path: Path | None = None) -> dict:
    """Run (or resume) one realisation; return its figures per compression degree.

    With ``store_path``, the realisation records its status, stages, figures and provenance in
    its own chunks of the store as it goes (status last). A LAMMPS failure is recorded (error,
    log tail) and raised; the caller decides whether to retry.
    """
    started = time.perf_counter()
    rec = _Recorder(store_path, real)
    real.workdir.mkdir(parents=True, exist_ok=True)
    _clear_interrupted(real.workdir)
    attempts = 1
    if store_path is not None:
        attempts = int(store.read_values(rec.group, "attempts")[real.case_index, real.index]) + 1
    rec.write(attempts=attempts, started_at=time.time(), host=socket.gethostname(),
              job_id=batch_job_id(), error="", log_tail="", status=store.RUNNING)
    current = "structure"
    try:
        rec.stage(current, store.RUNNING)
        t0 = time.perf_counter()
        initial = build_initial_structure(spec, real, database)
        rec.stage(current, store.DONE, time.perf_counter() - t0)
        figures = _run_stages(spec, real, initial, launcher, rec)
    except Exception as exc:
        tail = exc.log_tail if isinstance(exc, StageError) else ""
        stage_name = getattr(exc, "stage_name", current)
        rec.stage(stage_name if stage_name in store.STAGES else current, store.FAILED)
        rec.write(error=store.clip_error(str(exc)), log_tail=tail, finished_at=time.time(),
                  wall_time=time.perf_counter() - started, lammps_launches=rec.launches,
                  status=store.FAILED)
        raise
    wall = time.perf_counter() - started
    # The store's own degree order: an extended store appends new degrees at the end.
    degs = (tuple(float(d) for d in store.read_values(rec.group, "degree"))
            if store_path is not None else degrees(spec))
    per = figures["per_degree"]
    rec.write(porosity=np.array([per[d]["porosity"] for d in degs]),
              thickness=np.array([per[d]["thickness_um"] for d in degs]),
              springback=np.array([per[d]["springback"] for d in degs]),
              slurry_density=figures["slurry_density_g_cm3"], wall_time=wall,
              lammps_launches=rec.launches, finished_at=time.time(), status=store.DONE)
    return {"case_index": real.case_index, "index": real.index, **figures,
            "launches": rec.launches, "wall_s": wall, "host": socket.gethostname(),
            "attempt": attempts}


def batch_job_id() -> str:
    """The batch job this process runs in ('' outside Slurm and PBS)."""
    return os.environ.get("SLURM_JOB_ID") or os.environ.get("PBS_JOBID") or ""


@contextmanager
def _staged(rec: _Recorder, name: str) -> Iterator[None]:
    """Mark stage ``name`` running, then done (with wall time and steps) or failed."""
    t0, steps0 = time.perf_counter(), rec.steps
    rec.stage(name, store.RUNNING)
    try:
        yield
    except Exception as exc:
        exc.stage_name = name  # the caller records the failure against this stage
        raise
    rec.stage(name, store.DONE, time.perf_counter() - t0, rec.steps - steps0)


def _run_stages(spec: Spec, real: Realisation, initial: BeadState, launcher: Sequence[str],
                rec: _Recorder) -> dict:
    """Slurry → drying → calendering per degree → metrics; finished stages are not rerun."""
    proc = spec.process
    ff_slurry = load_forcefield(resolve_forcefield(spec.numerics.forcefield_slurry))
    ff_dried = load_forcefield(resolve_forcefield(spec.numerics.forcefield_dried))

    with _staged(rec, "slurry"):
        d = real.workdir / "slurry"
        result = _run_once(rec, d, lambda tmp: slurry.build_inputs(
            initial, tmp, ff=ff_slurry, temperature_K=proc.slurry_temperature_K,
            pressure_Pa=proc.slurry_pressure_Pa,
            solid_content_percent=real.formulation.solid_content_percent,
            cbd_dried_diameter_um=spec.structure.cbd_diameter_dried_um,
            cbd_density_g_cm3=spec.structure.cbd_density_g_cm3,
            numerics=numerics_of(spec, "slurry"), seed=real.seeds["slurry"]),
            slurry.run, launcher)
        slurry_state, slurry_fig = slurry.read_output(d, result)

    with _staged(rec, "drying"):
        d = real.workdir / "drying"
        result = _run_once(rec, d, lambda tmp: drying.build_inputs(
            slurry_state, tmp, ff=ff_dried, temperature_K=proc.drying_temperature_K,
            dried_porosity=real.formulation.dried_porosity_percent / 100.0,
            cbd_dried_diameter_um=spec.structure.cbd_diameter_dried_um,
            cbd_density_g_cm3=spec.structure.cbd_density_g_cm3,
            speed_um_per_us=proc.calendering_speed_um_per_us,
            numerics=numerics_of(spec, "drying"), seed=real.seeds["drying"]),
            drying.run, launcher)
        dried_state, _ = drying.read_output(d, result)

    states: dict[float, tuple[BeadState, float]] = {0.0: (dried_state, 0.0)}
    with _staged(rec, "calendering"):
        for degree in degrees(spec):
            if degree == 0.0:
                continue
            d = real.workdir / f"calendering-{degree:.4f}"
            result = _run_once(rec, d, lambda tmp, degree=degree: calendering.build_inputs(
                real.workdir / "drying" / STATE_FILE, tmp, ff=ff_dried,
                temperature_K=proc.calendering_temperature_K, compression_degree=degree,
                speed_um_per_us=proc.calendering_speed_um_per_us,
                numerics=numerics_of(spec, "calendering"), seed=real.seeds["calendering"]),
                calendering.run, launcher)
            state, fig = calendering.read_output(d, result, degree)
            states[degree] = (state, fig["springback"])

    an = spec.analysis
    with _staged(rec, "analysis"):
        per_degree = {deg: {**measure(state, an.voxel_size_um, an.cbd_as), "springback": sb}
                      for deg, (state, sb) in states.items()}
    return {"per_degree": per_degree, "slurry_density_g_cm3": slurry_fig["slurry_density_g_cm3"]}
