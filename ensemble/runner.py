"""Run a sweep: validate, prepare the particle database, start workers, run every realisation,
write each into the store as it finishes, and print a summary.

What happens on the way is published as events (:mod:`ensemble.events`) for whoever shows it:
the runner imports no view. Without a bus of its own the caller gets the terminal progress.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np
import xarray as xr

from mesosweep.ensemble import resume, store
from mesosweep.ensemble.events import (
    EventBus,
    RealisationDone,
    RealisationFailed,
    RealisationQueued,
    RealisationRetried,
    SweepFinished,
    SweepStarted,
)
from mesosweep.ensemble.layout import SweepLayout
from mesosweep.ensemble.plan import Realisation, degrees, plan
from mesosweep.ensemble.progress import ProgressPrinter, StageWatcher
from mesosweep.ensemble.realisation import submit_realisation
from mesosweep.ensemble.seeds import sweep_seed
from mesosweep.ensemble.spec import (
    Spec,
    SpecError,
    check_forcefields,
    is_mesosweep_store,
    spec_to_dict,
)
from mesosweep.stages.lammps_env import lammps_version
from mesosweep.stages.particles import save_database
from mesosweep.stages.synthetic import synthetic_volume

if TYPE_CHECKING:
    from distributed import Future

PROGRESS_SECONDS = 2.0  # how often the driver looks at the stages in flight


def prepare_database(spec: Spec, sweep: SweepLayout, out: TextIO) -> Path:
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
    print(f"particles: generating {p.count} synthetic secondaries at {p.voxel_size_um} um voxels",
          file=out, flush=True)
    labels = synthetic_volume(p.count, p.diameter_range_um, p.voxel_size_um, rng)
    # The watershed needs scikit-image: loaded only when a database is generated.
    from mesosweep.analysis.separation import extract_particles  # noqa: PLC0415

    db = extract_particles(labels, p.voxel_size_um, min_voxels=p.min_voxels)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_database(db, path)
    print(f"particles: {len(db)} secondaries in the database ({path})", file=out, flush=True)
    return path


def _open_or_create(spec: Spec, realisations: list[Realisation], out: TextIO,
                    extend: bool) -> None:
    path = spec.sweep.output
    if path.exists():
        if not is_mesosweep_store(path):
            raise SpecError([f"sweep.output: {path} exists and is not a mesosweep store; "
                             "choose another output or remove it"])
        growth = resume.check(path, spec, extend)
        if growth:
            resume.grow(path, spec)
            changes = ", ".join(f"{k} {json.dumps(a)} -> {json.dumps(b)}"
                                for k, (a, b) in growth.items())
            print(f"store: extended {path}: {changes}", file=out, flush=True)
        else:
            print(f"store: resuming {path}", file=out, flush=True)
        return
    store.create(path, spec, realisations, lammps_version())
    print(f"store: created {path}", file=out, flush=True)


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


def run_sweep(spec: Spec, out: TextIO | None = None, *, extend: bool = False,
              submit_one: Callable[..., Future] = submit_realisation,
              events: EventBus | None = None) -> int:
    """Run every realisation not yet done; return 0 if all are done, 1 if any failed.

    On an existing store of the same spec this resumes; ``extend`` lets a spec with more
    realisations or degrees grow it (see :mod:`ensemble.resume`). ``submit_one`` submits one
    realisation's tasks and returns the future of its last (benchmarks of the runner itself pass
    one that does no physics). Progress is published on ``events``; without it, a bus that
    prints the progress to ``out`` is used. The store, particle and summary lines go to ``out``.
    """
    out = out or sys.stdout
    if events is None:
        events = EventBus()
        events.subscribe(ProgressPrinter(out))
    from distributed import wait  # noqa: PLC0415 - dask starts only when a sweep runs

    from mesosweep.cluster import start as start_cluster  # noqa: PLC0415

    check_forcefields(spec)  # a bad parameter file fails here, not in every realisation
    realisations = plan(spec)
    _open_or_create(spec, realisations, out, extend)
    path = spec.sweep.output
    status = store.read_values(path, "status")
    todo = [r for r in realisations if status[r.case_index, r.index] != store.DONE]
    sweep = SweepLayout(path)
    database = prepare_database(spec, sweep, out)
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
        try:
            futures = {}
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
                for fut in finished:
                    real = futures.pop(fut)
                    elapsed = time.perf_counter() - started
                    attempts = int(group["attempts"][real.case_index, real.index])
                    outcome = _outcome(fut, real, degs, n + 1, len(todo), elapsed)
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
        finally:
            # Before the workers go: a live page lets open pages fetch the final state first.
            events.publish(SweepFinished(path, n, failed, interrupted))
            cluster.close()
    else:
        print("nothing to do: every realisation is done", file=out, flush=True)
    print_summary(path, out)
    return 1 if failed else 0


def print_summary(path: Path, out: TextIO) -> None:
    """Per case and degree: realisations done, mean ± standard deviation of each figure."""
    ds = store.open_store(path).load()
    done = ds["status"] == store.DONE
    print(f"\nsummary of {path}", file=out)
    header = (f"{'case':<12}{'degree':>8}{'done':>6}{'porosity (mean ± sd)':>24}"
              f"{'thickness um':>18}")
    print(header, file=out)
    print("-" * len(header), file=out)
    for case in ds["case"].values:
        n_done = int(done.sel(case=case).sum())
        for deg in ds["degree"].values:
            sel = (ds[["porosity", "thickness"]].sel(case=case, degree=deg)
                   .where(done.sel(case=case)))
            por, thick = sel["porosity"], sel["thickness"]
            print(f"{case:<12}{deg:>8.3f}{n_done:>6}{_mean_sd(por, 17, 3)}{_mean_sd(thick, 11, 2)}",
                  file=out)
    failed = int((ds["status"] == store.FAILED).sum())
    if failed:
        print(f"{failed} realisation(s) failed: see the store's 'error' variable", file=out)
    out.flush()


def _mean_sd(values: xr.DataArray, width: int, digits: int) -> str:
    """``mean ± sd`` of the finite values; the sd is the sample's (ddof=1), the spread of the
    ensemble, so with fewer than two values it is unknown and shown as a dash, not as nan."""
    n = int(values.count())
    sd = f"{float(values.std(ddof=1)):<5.{digits}f}" if n > 1 else f"{'-':<5}"
    return f"{float(values.mean()):>{width}.{digits}f} ± {sd}"
