"""One realisation as a Dask task graph: structure → slurry → drying (one task), then a chain of
pressings through the compression degrees in increasing order, one release branching off each,
an analysis task after every state, and a task that joins them and writes the realisation's
figures and status (:func:`submit_realisation`).

Each stage works in its own directory under the realisation's work directory and leaves a
``result.json`` there when it finished; every task skips the stages whose result says done, so
an interrupted realisation restarts from its last finished stage.
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

from mesosweep.analysis.phases import AM
from mesosweep.analysis.summary import METRICS, electrode_metrics
from mesosweep.analysis.voxelise import bead_volume_voxels, close_particle_gaps, voxelise
from mesosweep.ensemble import store
from mesosweep.ensemble.plan import Realisation, degrees
from mesosweep.ensemble.spec import Spec, resolve_forcefield
from mesosweep.stages import calendering, drying, slurry
from mesosweep.stages.forcefield import load_forcefield
from mesosweep.stages.inputs import STATE_FILE, Numerics, StageError, bond_spacing_um
from mesosweep.stages.lammps_data import (
    AM_TYPE,
    CBD_TYPE,
    BeadState,
    lattice_bonds,
    read_data,
    write_data,
)
from mesosweep.stages.particles import load_database
from mesosweep.stages.protocol import RESULT_FILE
from mesosweep.stages.structure import Structure, build_structure

STRUCTURE_FILE = "structure.data"
BEAD_MAP_FILE = "beads.npz"
LAUNCH_LOG = "launches.log"  # one line per LAMMPS launch, over every attempt


def _run_once(rec: Recorder, directory: Path, build: Callable[[Path], object],
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


def voxel_images(state: BeadState, voxel_size_um: float) -> tuple[np.ndarray, np.ndarray]:
    """Phase and secondary-particle images of a state, with the gaps between the primaries of
    each secondary closed (the paper's post-processing) within 0.5 % of the beads' AM volume."""
    am = state.phase == AM
    phase_img, particle_img = voxelise(state.position_um - state.box_lo, state.diameter_um,
                                       state.phase, np.where(am, state.molecule, 0),
                                       state.box_um, voxel_size_um)
    return close_particle_gaps(
        phase_img, particle_img,
        reference_am_voxels=bead_volume_voxels(state.diameter_um[am], voxel_size_um))


def measure(state: BeadState, voxel_size_um: float, cbd_as: str,
            reference: BeadState | None = None) -> dict[str, np.ndarray | float]:
    """Every metric of ``analysis.summary`` for one state; ``reference`` (the dried state) gives
    each particle's deformation and rotation."""
    phase_img, particle_img = voxel_images(state, voxel_size_um)
    ref = voxel_images(reference, voxel_size_um)[1] if reference is not None else None
    return electrode_metrics(phase_img, particle_img, voxel_size_um, cbd_as=cbd_as,
                             profile_bins=store.PROFILE_BINS, reference_particle_image=ref)


def numerics_of(spec: Spec, stage: str) -> Numerics:
    n = spec.numerics
    max_steps = {"slurry": n.slurry_max_steps, "drying": n.drying_max_steps}.get(stage, 0)
    return Numerics(n.timestep_fraction, n.check_steps, max_steps, n.relax_max_steps, n.tolerance,
                    relax_check_steps=n.relax_check_steps)


class Recorder:
    """Writes a realisation's progress into its own chunks of the store, as it happens."""

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

    @contextmanager
    def failures(self, stage: str) -> Iterator[None]:
        """Record a failure (stage, error, log tail) in the store, then let it propagate."""
        try:
            yield
        except Exception as exc:
            self.stage(getattr(exc, "stage_name", stage), store.FAILED)
            self.write(error=store.clip_error(str(exc)),
                       log_tail=exc.log_tail if isinstance(exc, StageError) else "",
                       finished_at=time.time(), status=store.FAILED)
            raise


@contextmanager
def _staged(rec: Recorder, name: str, finish: bool = True) -> Iterator[None]:
    """Mark stage ``name`` running, then done (with wall time and steps) unless ``finish`` is
    False (a stage shared by several tasks is marked done by the task that joins them)."""
    t0, steps0 = time.perf_counter(), rec.steps
    rec.stage(name, store.RUNNING)
    try:
        yield
    except Exception as exc:
        exc.stage_name = name  # the failure is recorded against this stage
        raise
    if finish:
        rec.stage(name, store.DONE, time.perf_counter() - t0, rec.steps - steps0)


def batch_job_id() -> str:
    """The batch job this process runs in ('' outside a batch system)."""
    for name in ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "JOB_ID"):
        if os.environ.get(name):
            return os.environ[name]
    return ""


# The realisation as a Dask task graph: dried electrode → pressing chain → one release per
# compression degree → analysis of every state → finish. Each task resumes from the work
# directory (finished stages are not rerun) and records its progress in the realisation's own
# chunks of the store.

def run_dried(spec: Spec, real: Realisation, database: Path, launcher: Sequence[str],
              store_path: Path | None) -> dict:
    """Start an attempt; structure → slurry → drying. Returns what the later tasks need."""
    started = time.time()
    rec = Recorder(store_path, real)
    real.workdir.mkdir(parents=True, exist_ok=True)
    _clear_interrupted(real.workdir)
    attempt = 1
    if rec.group is not None:
        attempt = int(store.read_values(rec.group, "attempts")[real.case_index, real.index]) + 1
    rec.write(attempts=attempt, started_at=started, host=socket.gethostname(),
              job_id=batch_job_id(), error="", log_tail="", status=store.RUNNING)
    with rec.failures("structure"):
        with _staged(rec, "structure"):
            initial = build_initial_structure(spec, real, database)
        proc = spec.process
        with _staged(rec, "slurry"):
            d = real.workdir / "slurry"
            result = _run_once(rec, d, lambda tmp: slurry.build_inputs(
                initial, tmp, ff=_forcefield(spec.numerics.forcefield_slurry),
                temperature_K=proc.slurry_temperature_K, pressure_Pa=proc.slurry_pressure_Pa,
                solid_content_percent=real.formulation.solid_content_percent,
                cbd_dried_diameter_um=spec.structure.cbd_diameter_dried_um,
                cbd_density_g_cm3=spec.structure.cbd_density_g_cm3,
                numerics=numerics_of(spec, "slurry"), seed=real.seeds["slurry"]),
                slurry.run, launcher)
            slurry_state, slurry_fig = slurry.read_output(d, result)
        with _staged(rec, "drying"):
            d = real.workdir / "drying"
            _run_once(rec, d, lambda tmp: drying.build_inputs(
                slurry_state, tmp, ff=_forcefield(spec.numerics.forcefield_dried),
                temperature_K=proc.drying_temperature_K,
                dried_porosity=real.formulation.dried_porosity_percent / 100.0,
                cbd_dried_diameter_um=spec.structure.cbd_diameter_dried_um,
                cbd_density_g_cm3=spec.structure.cbd_density_g_cm3,
                speed_um_per_us=proc.calendering_speed_um_per_us,
                numerics=numerics_of(spec, "drying"), seed=real.seeds["drying"]),
                drying.run, launcher)
    return {"started_at": started, "attempt": attempt, "launches": rec.launches,
            "slurry_density_g_cm3": slurry_fig["slurry_density_g_cm3"]}


def _pressing_dir(real: Realisation, degree: float) -> Path:
    return real.workdir / f"pressing-{degree:.4f}"


def run_pressed(spec: Spec, real: Realisation, degree: float, previous: float | None,
                launcher: Sequence[str], store_path: Path | None, upstream: dict) -> dict:
    """Press the dried electrode to ``degree``: on from the pressing to the ``previous`` (next
    smaller) degree, or from the dried film's top. ``upstream`` is that task's result (the
    dependency)."""
    rec = Recorder(store_path, real)
    proc = spec.process
    with rec.failures("calendering"), _staged(rec, "calendering", finish=False):
        d = _pressing_dir(real, degree)
        result = _run_once(rec, d, lambda tmp: calendering.build_press_inputs(
            real.workdir / "drying" / STATE_FILE, tmp,
            previous=None if previous is None else _pressing_dir(real, previous),
            ff=_forcefield(spec.numerics.forcefield_dried),
            temperature_K=proc.calendering_temperature_K, compression_degree=degree,
            speed_um_per_us=proc.calendering_speed_um_per_us,
            numerics=numerics_of(spec, "calendering"), seed=real.seeds["calendering"]),
            calendering.run, launcher)
    return {"degree": degree, "launches": rec.launches, "steps": rec.steps,
            "wall_s": result["wall_s"] if rec.launches else 0.0}


def run_calendered(spec: Spec, real: Realisation, degree: float, launcher: Sequence[str],
                   store_path: Path | None, pressed: dict) -> dict:
    """One compression degree's release and relaxation, from its pressing."""
    rec = Recorder(store_path, real)
    proc = spec.process
    with rec.failures("calendering"), _staged(rec, "calendering", finish=False):
        d = real.workdir / f"calendering-{degree:.4f}"
        result = _run_once(rec, d, lambda tmp: calendering.build_inputs(
            real.workdir / "drying" / STATE_FILE, _pressing_dir(real, degree), tmp,
            ff=_forcefield(spec.numerics.forcefield_dried),
            temperature_K=proc.calendering_temperature_K,
            speed_um_per_us=proc.calendering_speed_um_per_us,
            numerics=numerics_of(spec, "calendering"), seed=real.seeds["calendering"]),
            calendering.run, launcher)
        _, fig = calendering.read_output(d, result)
    return {"degree": degree, "springback": fig["springback"], "launches": rec.launches,
            "steps": rec.steps, "wall_s": result["wall_s"] if rec.launches else 0.0}


def run_analysis(spec: Spec, real: Realisation, degree: float, store_path: Path | None,
                 state_of: dict) -> dict:
    """Metrics of one state: the dried electrode (degree 0) or a calendered one."""
    rec = Recorder(store_path, real)
    dried = real.workdir / "drying" / STATE_FILE
    directory = real.workdir / ("drying" if degree == 0.0 else f"calendering-{degree:.4f}")
    with rec.failures("analysis"), _staged(rec, "analysis", finish=False):
        state = read_data(directory / STATE_FILE)
        an = spec.analysis
        figures = measure(state, an.voxel_size_um, an.cbd_as,
                          reference=read_data(dried) if degree != 0.0 else None)
    return {"degree": degree, "springback": state_of.get("springback", 0.0), **figures}


def finish(spec: Spec, real: Realisation, store_path: Path | None, dried: dict,
           branches: list[dict], analyses: list[dict]) -> dict:
    """Join the branches: write the realisation's figures, then its status, into the store."""
    rec = Recorder(store_path, real)
    degs = (tuple(float(d) for d in store.read_values(rec.group, "degree"))
            if rec.group is not None else degrees(spec))  # an extended store appends degrees
    per = {a["degree"]: a for a in analyses}
    launches = dried["launches"] + sum(b["launches"] for b in branches)
    rec.stage("calendering", store.DONE, sum(b["wall_s"] for b in branches),
              sum(b["steps"] for b in branches))
    rec.stage("analysis", store.DONE)
    wall = time.time() - dried["started_at"]
    metrics = {name: np.stack([np.asarray(per[d][name], dtype=float) for d in degs])
               for name in METRICS}
    rec.write(**metrics, springback=np.array([per[d]["springback"] for d in degs]),
              slurry_density=dried["slurry_density_g_cm3"], wall_time=wall,
              lammps_launches=launches, finished_at=time.time(), status=store.DONE)
    return {"case_index": real.case_index, "index": real.index, "per_degree": per,
            "slurry_density_g_cm3": dried["slurry_density_g_cm3"], "launches": launches,
            "wall_s": wall, "attempt": dried["attempt"]}


def submit_realisation(client, spec: Spec, real: Realisation, database: Path,
                       launcher: Sequence[str], store_path: Path | None):
    """Submit the realisation's task graph; returns the future of its ``finish`` task."""
    tag = f"{real.label}-{time.time_ns()}"
    # Realisations in plan order: when workers are busy, an earlier realisation's ready tasks go
    # first, so realisations finish one by one (results arrive early, an interruption leaves
    # whole realisations) instead of all together at the end.
    first = {"pure": False, "priority": -(real.case_index * 1_000_000 + real.index)}
    dried = client.submit(run_dried, spec, real, database, launcher, store_path,
                          key=f"dried-{tag}", **first)
    # The pressings form a chain in increasing degree; each release branches off its own.
    pressed, branches = {}, {}
    upstream, previous = dried, None
    for deg in (d for d in degrees(spec) if d != 0.0):  # increasing
        upstream = pressed[deg] = client.submit(
            run_pressed, spec, real, deg, previous, launcher, store_path, upstream,
            key=f"pressed-{deg:.4f}-{tag}", **first)
        branches[deg] = client.submit(run_calendered, spec, real, deg, launcher, store_path,
                                      pressed[deg], key=f"calendered-{deg:.4f}-{tag}", **first)
        previous = deg
    analyses = [client.submit(run_analysis, spec, real, deg, store_path,
                              branches.get(deg, dried), key=f"analysis-{deg:.4f}-{tag}", **first)
                for deg in degrees(spec)]
    return client.submit(finish, spec, real, store_path, dried,
                         [*pressed.values(), *branches.values()], analyses,
                         key=f"finish-{tag}", **first)


def _forcefield(name: str):
    return load_forcefield(resolve_forcefield(name))
