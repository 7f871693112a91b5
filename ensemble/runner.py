"""Run a sweep: validate, prepare the particle database, start workers, run every realisation,
write each into the store as it finishes, and log a summary.

What happens on the way is published as events (:mod:`ensemble.events`) for whoever shows it:
the runner imports no view. Without a bus of its own the caller gets the progress lines
(:class:`ensemble.progress.ProgressLog`). The runner's own lines (the store, the particles,
the summary) go to the ``mesosweep.sweep`` logger; while a sweep runs, everything the
``mesosweep`` loggers say is also written, with times, to the sweep's driver log
(:attr:`ensemble.layout.SweepLayout.driver_log`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
import zarr

from mesosweep.ensemble import lease, resume, store
from mesosweep.ensemble.events import (
    EventBus,
    RealisationDone,
    RealisationFailed,
    RealisationQueued,
    RealisationRetried,
    SweepFinished,
    SweepProgress,
    SweepStarted,
)
from mesosweep.ensemble.layout import SweepLayout
from mesosweep.ensemble.plan import Realisation, degrees, plan
from mesosweep.ensemble.progress import ProgressLog, StageWatcher
from mesosweep.ensemble.realisation import submit_realisation
from mesosweep.ensemble.seeds import sweep_seed
from mesosweep.ensemble.spec import (
    Spec,
    SpecError,
    check_forcefields,
    is_mesosweep_store,
    spec_to_dict,
)
from mesosweep.ensemble.workload import check_workload
from mesosweep.stages.lammps_env import lammps_version
from mesosweep.stages.particles import save_database
from mesosweep.stages.synthetic import synthetic_volume

if TYPE_CHECKING:
    from distributed import Future

PROGRESS_SECONDS = 2.0  # how often the driver looks at the stages in flight
PROGRESS_LINE_S = 60.0  # how often it says how far the sweep is ("n/N done, ETA")
INTERRUPTED = 130  # exit status of a run stopped by Ctrl-C or a signal (128 + SIGINT)
LOG = logging.getLogger("mesosweep.sweep")
# The driver log's lines: when, how grave, who said it (the logger's name), what.
DRIVER_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@contextmanager
def driver_log(sweep: SweepLayout) -> Iterator[Path]:
    """While the block runs, everything the ``mesosweep`` loggers say goes (also) into the
    sweep's driver log, at every level, appended to what earlier drivers wrote."""
    path = sweep.driver_log
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(DRIVER_LOG_FORMAT))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger("mesosweep")
    level = root.level
    # The loggers must pass DEBUG records on for the file to get them; the terminal's handler
    # (mesosweep.cli) keeps its own level.
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def prepare_database(spec: Spec, sweep: SweepLayout) -> Path:
    """The sweep's particle database: the spec's, or one extracted from a synthetic volume."""
    if spec.particles.source == "database":
        return Path(spec.particles.database)
    p, seed = spec.particles, sweep_seed(spec.sweep.root_seed, "particles")
    key = json.dumps({"particles": spec_to_dict(spec)["particles"], "seed": seed},
                     sort_keys=True)
    path = sweep.database(hashlib.sha256(key.encode()).hexdigest())
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    LOG.info("particles: generating %d synthetic secondaries at %s um voxels", p.count,
             p.voxel_size_um)
    labels = synthetic_volume(p.count, p.diameter_range_um, p.voxel_size_um, rng)
    # The watershed needs scikit-image: loaded only when a database is generated.
    from mesosweep.analysis.separation import extract_particles  # noqa: PLC0415

    db = extract_particles(labels, p.voxel_size_um, min_voxels=p.min_voxels)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_database(db, path)
    LOG.info("particles: %d secondaries in the database (%s)", len(db), path)
    return path


def _open_or_create(spec: Spec, realisations: list[Realisation], extend: bool) -> None:
    """Create the store, or resume (or grow) it. :func:`check_store` agreed before the lease
    was taken; asked again here, under the lease, in case another driver changed the store in
    between."""
    path = spec.sweep.output
    if path.exists():
        growth = resume.check(path, spec, extend)
        if growth:
            resume.grow(path, spec)
            changes = ", ".join(f"{k} {json.dumps(a)} -> {json.dumps(b)}"
                                for k, (a, b) in growth.items())
            LOG.info("store: extended %s: %s", path, changes)
        else:
            LOG.info("store: resuming %s", path)
        _repair(path, realisations)
        return
    store.create(path, spec, realisations, lammps_version())
    LOG.info("store: created %s", path)


def check_store(spec: Spec, extend: bool) -> str:
    """What running ``spec`` would do to its store: 'create', 'resume' or 'extend'; raises
    :class:`SpecError` when it would refuse (another sweep's store, or not a store). Reads only."""
    path = spec.sweep.output
    if not path.exists():
        return "create"
    if not is_mesosweep_store(path):
        raise SpecError([f"sweep.output: {path} exists and is not a mesosweep store; "
                         "choose another output"])
    return "extend" if resume.check(path, spec, extend) else "resume"


def _repair(path: Path, realisations: list[Realisation]) -> None:
    """Queue again every done realisation whose records were lost or damaged since it finished:
    its stages are reused, its analysis and records are made anew."""
    damaged = store.verify(path)
    if not damaged:
        return
    group = store.writer(path)
    for real in realisations:
        names = damaged.get((real.case_index, real.index))
        if names:
            LOG.info("store: %s lost or damaged records (%s%s): making them again", real.label,
                     ", ".join(names[:5]), ", …" if len(names) > 5 else "")
            store.write_realisation(group, real.case_index, real.index, {"status": store.QUEUED})


def _outcome(fut: Future, real: Realisation, degs: tuple[float, ...], position: int,
             total: int, elapsed: float) -> RealisationDone | RealisationFailed:
    """What became of a finished realisation (the worker wrote it into the store)."""
    try:
        record = fut.result()
    # A failed stage (any error a task raised): the worker recorded it, the sweep goes on.
    except Exception as exc:  # noqa: BLE001
        return RealisationFailed(real.label, position, total, elapsed,
                                 error=store.clip_error(str(exc)))
    return RealisationDone(real.label, position, total, elapsed, wall_s=float(record["wall_s"]),
                           porosity=tuple(float(record["per_degree"][d]["porosity"])
                                          for d in degs))


def run_sweep(spec: Spec, *, extend: bool = False,
              submit_one: Callable[..., Future] = submit_realisation,
              events: EventBus | None = None) -> int:
    """Run every realisation not yet done; return 0 if all are done, 1 if any failed.

    On an existing store of the same spec this resumes; ``extend`` lets a spec with more
    realisations or degrees grow it (see :mod:`ensemble.resume`). ``submit_one`` submits one
    realisation's tasks and returns the future of its last (benchmarks of the runner itself pass
    one that does no physics). Progress is published on ``events``; without it, a bus that
    logs the progress lines is used. The store, particle and summary lines are logged; the
    sweep's driver log gets everything (:func:`driver_log`).
    """
    if events is None:
        events = EventBus()
        events.subscribe(ProgressLog())
    check_forcefields(spec)  # a bad parameter file fails here, not in every realisation
    check_workload(spec)  # work that cannot finish is refused before it starts
    check_store(spec, extend)  # refused here, before anything is written
    path = spec.sweep.output
    sweep = SweepLayout(path)
    held = lease.acquire(sweep.lease, path)
    try:
        with driver_log(sweep), _stop_on_signals():
            LOG.debug("driver: host %s, pid %d, mesosweep %s, store %s", socket.gethostname(),
                      os.getpid(), store.package_versions()["mesosweep"], path)
            return _run(spec, sweep, extend, submit_one, events, held)
    finally:
        lease.release(sweep.lease, held)


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP (a batch system's or a closed terminal's stop) stop the driver as
    Ctrl-C does: the run ends cleanly and can be resumed."""
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def _run(spec: Spec, sweep: SweepLayout, extend: bool,
         submit_one: Callable[..., Future], events: EventBus, held: lease.Lease) -> int:
    from distributed import wait  # noqa: PLC0415 - dask starts only when a sweep runs

    from mesosweep.cluster import start as start_cluster  # noqa: PLC0415

    realisations = plan(spec)
    _open_or_create(spec, realisations, extend)
    path = sweep.store
    status = store.read_values(path, "status")
    todo = [r for r in realisations if status[r.case_index, r.index] != store.DONE]
    database = prepare_database(spec, sweep)
    degs = degrees(spec)
    failed = 0
    if todo:
        cluster = start_cluster(spec, sweep.workdir)
        events.publish(SweepStarted(path, len(todo), cluster.kind, spec.cluster.workers,
                                    spec.cluster.ranks_per_realisation, tuple(cluster.launcher),
                                    cluster.dashboard))
        started = time.perf_counter()
        n = 0
        interrupted = True
        futures: dict[Future, Realisation] = {}
        beat = told = time.monotonic()
        try:
            group = store.writer(path)
            for real in todo:
                store.write_realisation(group, real.case_index, real.index,
                                        {"status": store.QUEUED})
                events.publish(RealisationQueued(real.label))

            def submit(real: Realisation) -> Future:
                fut = submit_one(cluster.client, spec, real, database, cluster.launcher, path)
                futures[fut] = real
                return fut

            # One realisation in flight per worker, the next submitted as one ends: they finish
            # one by one in plan order (results early, an interruption leaves whole ones), and
            # the scheduler holds a few graphs, not hundreds. A realisation's own parallel
            # branches still spread over whatever workers are idle.
            waiting = list(todo)
            pending = {submit(waiting.pop(0)) for _ in range(min(spec.cluster.workers, len(todo)))}
            watcher = StageWatcher(todo)
            while pending:
                try:
                    finished, pending = wait(pending, timeout=PROGRESS_SECONDS,
                                             return_when="FIRST_COMPLETED")
                except TimeoutError:  # nothing finished yet: look at the stages in flight
                    finished = set()
                for event in watcher.poll():
                    events.publish(event)
                if time.monotonic() - beat > lease.HEARTBEAT_S:
                    held = lease.heartbeat(sweep.lease, held)
                    beat = time.monotonic()
                if time.monotonic() - told > PROGRESS_LINE_S:
                    events.publish(_progress(n, failed, len(pending), len(todo),
                                             time.perf_counter() - started))
                    told = time.monotonic()
                for fut in finished:
                    real = futures.pop(fut)
                    elapsed = time.perf_counter() - started
                    attempts = int(group["attempts"][real.case_index, real.index])
                    outcome = _outcome(fut, real, degs, n + 1, len(todo), elapsed)
                    if isinstance(outcome, RealisationFailed):
                        _record_failure(group, real, outcome.error)
                    events.publish(outcome)
                    if isinstance(outcome, RealisationDone):
                        n += 1
                    elif attempts < spec.cluster.max_attempts:
                        events.publish(RealisationRetried(real.label, attempts + 1,
                                                          spec.cluster.max_attempts))
                        store.write_realisation(group, real.case_index, real.index,
                                                {"status": store.QUEUED})
                        events.publish(RealisationQueued(real.label))
                        pending.add(submit(real))
                        continue
                    else:
                        n += 1
                        failed += 1
                    if waiting:
                        pending.add(submit(waiting.pop(0)))
            interrupted = False
        except KeyboardInterrupt as stop:
            LOG.warning("interrupted (%s): stopping the workers; the %d realisation(s) in "
                        "flight are queued again. Rerun the same command to resume.",
                        stop or "Ctrl-C", len(futures))
        finally:
            # Before the workers go: a live page lets open pages fetch the final state first.
            events.publish(SweepFinished(path, n, failed, interrupted))
            cluster.close()
            if interrupted:
                _requeue(path, list(futures.values()))
        if interrupted:
            return INTERRUPTED
    else:
        LOG.info("nothing to do: every realisation is done")
    LOG.info("summary of %s\n%s", path, summary_table(path))
    return 1 if failed else 0


def _progress(ended: int, failed: int, running: int, total: int,
              elapsed_s: float) -> SweepProgress:
    """How far the sweep is: the remaining realisations at the pace of those that ended."""
    eta = (total - ended) * elapsed_s / ended if ended else None
    return SweepProgress(done=ended, failed=failed, running=running, total=total,
                         elapsed_s=round(elapsed_s, 1),
                         eta_s=round(eta, 1) if eta is not None else None)


def _record_failure(group: zarr.Group, real: Realisation, error: str) -> None:
    """A realisation that failed where its worker could not say so (the worker died, or the
    final write failed): the driver records it, so the store never keeps saying running."""
    i = (real.case_index, real.index)
    if int(group["status"][i]) != store.FAILED:
        store.write_realisation(group, *i, {"error": error, "finished_at": time.time(),
                                            "status": store.FAILED})


def _requeue(path: Path, realisations: list[Realisation]) -> None:
    """After an interruption, with the workers gone: what was in flight is queued, not running."""
    group = store.writer(path)
    for real in realisations:
        i = (real.case_index, real.index)
        stages = group["stage_status"][i]
        stages[stages == store.RUNNING] = store.QUEUED
        store.write_realisation(group, *i, {"stage_status": stages, "status": store.QUEUED})


def summary_table(path: Path) -> str:
    """Per case and degree: realisations done, mean ± standard deviation of each figure."""
    ds = store.open_store(path).load()
    done = ds["status"] == store.DONE
    header = (f"{'case':<12}{'degree':>8}{'done':>6}{'porosity (mean ± sd)':>24}"
              f"{'thickness um':>18}")
    lines = [header, "-" * len(header)]
    for case in ds["case"].values:
        n_done = int(done.sel(case=case).sum())
        for deg in ds["degree"].values:
            sel = (ds[["porosity", "thickness"]].sel(case=case, degree=deg)
                   .where(done.sel(case=case)))
            por, thick = sel["porosity"], sel["thickness"]
            lines.append(f"{case:<12}{deg:>8.3f}{n_done:>6}{_mean_sd(por, 17, 3)}"
                         f"{_mean_sd(thick, 11, 2)}")
    failed = int((ds["status"] == store.FAILED).sum())
    if failed:
        lines.append(f"{failed} realisation(s) failed: see the store's 'error' variable")
    return "\n".join(lines)


def _mean_sd(values: xr.DataArray, width: int, digits: int) -> str:
    """``mean ± sd`` of the finite values; the sd is the sample's (ddof=1), the spread of the
    ensemble, so with fewer than two values it is unknown and shown as a dash, not as nan."""
    n = int(values.count())
    sd = f"{float(values.std(ddof=1)):<5.{digits}f}" if n > 1 else f"{'-':<5}"
    return f"{float(values.mean()):>{width}.{digits}f} ± {sd}"
