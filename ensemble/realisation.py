"""One realisation as a Dask task graph: structure → slurry → drying (one task), then a chain of
pressings through the compression degrees in increasing order, one release branching off each,
an analysis task after every state, and a task that joins them and writes the realisation's
figures and status (:func:`submit_realisation`).

Each stage runs in a private attempt folder that becomes its stage folder
(:class:`~mesosweep.ensemble.layout.RealisationLayout`) only when it finished, so every task
skips the stages whose folder exists and an interrupted realisation restarts from its last
finished stage. The tasks hand each other nothing but small dicts: each stage reads the stage
before it from its folder (``read_output``), whether that ran a second ago or before a restart.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from mesosweep.analysis.metric_table import METRICS
from mesosweep.ensemble import store
from mesosweep.ensemble.layout import degree_tag, stage_label
from mesosweep.ensemble.params import RealisationParams, realisation_params
from mesosweep.ensemble.pipeline import BY_NAME
from mesosweep.ensemble.plan import Realisation, degrees
from mesosweep.ensemble.spec import Spec
from mesosweep.errors import StageError
from mesosweep.stages import calendering, drying, initial, pressing, slurry
from mesosweep.stages.contract import (
    RunResult,
    StageOutput,
    file_fingerprint,
    read_fingerprint,
    run,
    write_fingerprint,
)
from mesosweep.stages.lammps_data import read_data


def _stage(rec: Recorder, stage: str, degree: float | None, build: Callable[[Path], object],
           launcher: Sequence[str] | None, fingerprint: str) -> RunResult | None:
    """Run ``stage`` unless its folder holds a finished run of the same ``fingerprint``; its
    run, when LAMMPS ran now.

    ``build`` writes the stage's inputs into a private attempt folder; with a ``launcher`` the
    stage's LAMMPS input then runs there. The folder is renamed to the stage folder only when
    all that finished, so an interrupted or concurrent attempt never leaves half a stage. A
    stage folder made with other parameters, code or upstream (another fingerprint) is stale:
    it is removed and the stage runs again.
    """
    layout = rec.real.layout
    directory = layout.stage_dir(stage, degree)
    if directory.is_dir():
        if read_fingerprint(directory) == fingerprint:
            return None
        shutil.rmtree(directory)
    tmp = layout.attempt_dir(directory)
    build(tmp)
    write_fingerprint(tmp, fingerprint)
    result = rec.lammps(tmp, launcher) if launcher is not None else None
    try:
        os.rename(tmp, directory)
    except OSError:  # another attempt published this stage first; its result stands
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _clear_interrupted(real: Realisation) -> None:
    """Remove the attempt folders of interrupted attempts."""
    for tmp in real.layout.attempt_dirs():
        shutil.rmtree(tmp, ignore_errors=True)


def batch_job_id() -> str:
    """The batch job this process runs in ('' outside a batch system)."""
    for name in ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "JOB_ID"):
        if os.environ.get(name):
            return os.environ[name]
    return ""


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

    def lammps(self, directory: Path, launcher: Sequence[str]) -> RunResult:
        """Run one LAMMPS stage, counting the launch in the realisation's launch log."""
        self.launches += 1
        with open(self.real.layout.launch_log, "a") as log:
            log.write(f"{directory.name} {time.time():.3f}\n")
        result = run(directory, launcher)
        self.steps += result.steps
        return result

    @contextmanager
    def failures(self, stage: str) -> Iterator[None]:
        """Record a failure (stage, error, log tail) in the store, then let it propagate."""
        try:
            yield
        except StageError as exc:
            failed = BY_NAME[exc.stage].recorded_as if exc.stage in BY_NAME else stage
            self.stage(failed, store.FAILED)
            self.write(error=store.clip_error(str(exc)), log_tail=exc.log_tail,
                       finished_at=time.time(), status=store.FAILED)
            raise


@contextmanager
def _staged(rec: Recorder, name: str, finish: bool = True) -> Iterator[None]:
    """Mark stage ``name`` running, then done (with wall time and steps) unless ``finish`` is
    False (a stage shared by several tasks is marked done by the task that joins them). Any
    failure inside becomes a :class:`StageError` of this stage."""
    t0, steps0 = time.perf_counter(), rec.steps
    rec.stage(name, store.RUNNING)
    try:
        yield
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever broke the stage, it is this stage's
        raise StageError(name, f"{type(exc).__name__}: {exc}") from exc
    if finish:
        rec.stage(name, store.DONE, time.perf_counter() - t0, rec.steps - steps0)


# The realisation as a Dask task graph: dried electrode → pressing chain → one release per
# compression degree → analysis of every state → finish. Each task resumes from the work
# folder (finished stages are not rerun) and records its progress in the realisation's own
# chunks of the store.

def run_dried(params: RealisationParams, real: Realisation, database: Path,
              launcher: Sequence[str], store_path: Path | None) -> dict:
    """Start an attempt; structure → slurry → drying. Returns what the later tasks need."""
    started = time.time()
    rec = Recorder(store_path, real)
    layout = real.layout
    layout.root.mkdir(parents=True, exist_ok=True)
    _clear_interrupted(real)
    attempt = 1
    if rec.group is not None:
        attempt = int(store.read_values(rec.group, "attempts")[real.case_index, real.index]) + 1
    rec.write(attempts=attempt, started_at=started, host=socket.gethostname(),
              job_id=batch_job_id(), error="", log_tail="", status=store.RUNNING)
    with rec.failures("structure"):
        with _staged(rec, "structure"):
            _stage(rec, "structure", None,
                   lambda tmp: initial.build_inputs(params.structure, database, tmp), None,
                   params.fingerprints["structure"])
        with _staged(rec, "slurry"):
            _stage(rec, "slurry", None, lambda tmp: slurry.build_inputs(
                params.slurry, initial.read_output(layout.stage_dir("structure")), tmp),
                launcher, params.fingerprints["slurry"])
            slurry_out = slurry.read_output(layout.stage_dir("slurry"))
        with _staged(rec, "drying"):
            _stage(rec, "drying", None,
                   lambda tmp: drying.build_inputs(params.drying, slurry_out, tmp), launcher,
                   params.fingerprints["drying"])
    return {"started_at": started, "attempt": attempt, "launches": rec.launches,
            "slurry_density_g_cm3": slurry_out.figures["slurry_density_g_cm3"]}


def _pressing_upstream(real: Realisation, previous: float | None) -> StageOutput:
    """What a pressing continues: the pressing to the ``previous`` degree, or the dried film."""
    layout = real.layout
    if previous is None:
        return drying.read_output(layout.stage_dir("drying"))
    return pressing.read_output(layout.stage_dir("pressing", previous))


def run_pressed(params: RealisationParams, real: Realisation, degree: float,
                previous: float | None, launcher: Sequence[str], store_path: Path | None,
                upstream: dict) -> dict:
    """Press the dried electrode to ``degree``: on from the pressing to the ``previous`` (next
    smaller) degree, or from the dried film's top. ``upstream`` is that task's result (the
    dependency)."""
    rec = Recorder(store_path, real)
    with rec.failures("calendering"), _staged(rec, "calendering", finish=False):
        result = _stage(rec, "pressing", degree, lambda tmp: pressing.build_inputs(
            params.pressing[degree], _pressing_upstream(real, previous), tmp), launcher,
            params.fingerprints[stage_label("pressing", degree)])
    return {"degree": degree, "launches": rec.launches, "steps": rec.steps,
            "wall_s": result.wall_s if result is not None else 0.0}


def run_calendered(params: RealisationParams, real: Realisation, degree: float,
                   launcher: Sequence[str], store_path: Path | None, pressed: dict) -> dict:
    """One compression degree's release and relaxation, from its pressing."""
    rec = Recorder(store_path, real)
    layout = real.layout
    with rec.failures("calendering"), _staged(rec, "calendering", finish=False):
        result = _stage(rec, "calendering", degree, lambda tmp: calendering.build_inputs(
            params.release, pressing.read_output(layout.stage_dir("pressing", degree)), tmp),
            launcher, params.fingerprints[stage_label("calendering", degree)])
        out = calendering.read_output(layout.stage_dir("calendering", degree))
    return {"degree": degree, "springback": out.figures["springback"], "launches": rec.launches,
            "steps": rec.steps, "wall_s": result.wall_s if result is not None else 0.0}


def run_analysis(params: RealisationParams, real: Realisation, degree: float,
                 store_path: Path | None, state_of: dict) -> dict:
    """Metrics of one state: the dried electrode (degree 0) or a calendered one."""
    # The metrics need scikit-image: loaded on the worker only, never by the driver.
    from mesosweep.stages.measure import measure  # noqa: PLC0415

    rec = Recorder(store_path, real)
    layout = real.layout
    dried = layout.final_state(0.0)
    with rec.failures("analysis"), _staged(rec, "analysis", finish=False):
        state = read_data(layout.final_state(degree))
        an = params.analysis
        figures = measure(state, an.voxel_size_um, an.cbd_as, store.PROFILE_BINS,
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
    values = {name: np.stack([np.asarray(per[d][name], dtype=float) for d in degs])
              for name in METRICS}
    values.update(springback=np.array([per[d]["springback"] for d in degs]),
                  slurry_density=dried["slurry_density_g_cm3"], wall_time=wall,
                  lammps_launches=launches, finished_at=time.time())
    digest = store.record_digest(rec.group, values) if rec.group is not None else ""
    rec.write(**values, record_digest=digest, status=store.DONE)
    return {"case_index": real.case_index, "index": real.index, "per_degree": per,
            "slurry_density_g_cm3": dried["slurry_density_g_cm3"], "launches": launches,
            "wall_s": wall, "attempt": dried["attempt"]}


def submit_realisation(client, spec: Spec, real: Realisation, database: Path,
                       launcher: Sequence[str], store_path: Path | None):
    """Submit the realisation's task graph; returns the future of its ``finish`` task."""
    params = realisation_params(spec, real, file_fingerprint(database))
    tag = f"{real.label}-{time.time_ns()}"
    # Realisations in plan order: when workers are busy, an earlier realisation's ready tasks go
    # first, so realisations finish one by one (results arrive early, an interruption leaves
    # whole realisations) instead of all together at the end.
    first = {"pure": False, "priority": -(real.case_index * 1_000_000 + real.index)}
    dried = client.submit(run_dried, params, real, database, launcher, store_path,
                          key=f"dried-{tag}", **first)
    # The pressings form a chain in increasing degree; each release branches off its own.
    pressed, branches = {}, {}
    upstream, previous = dried, None
    for deg in (d for d in degrees(spec) if d != 0.0):  # increasing
        upstream = pressed[deg] = client.submit(
            run_pressed, params, real, deg, previous, launcher, store_path, upstream,
            key=f"pressed-{degree_tag(deg)}-{tag}", **first)
        branches[deg] = client.submit(run_calendered, params, real, deg, launcher, store_path,
                                      pressed[deg], key=f"calendered-{degree_tag(deg)}-{tag}",
                                      **first)
        previous = deg
    analyses = [client.submit(run_analysis, params, real, deg, store_path,
                              branches.get(deg, dried),
                              key=f"analysis-{degree_tag(deg)}-{tag}", **first)
                for deg in degrees(spec)]
    return client.submit(finish, spec, real, store_path, dried,
                         [*pressed.values(), *branches.values()], analyses,
                         key=f"finish-{tag}", **first)
