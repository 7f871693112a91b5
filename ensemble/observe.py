"""What the status views show beyond the store, read from the sweep's work folder.

The store says what each realisation and stage did (:mod:`ensemble.status`). It cannot say
whether the driver that runs them still lives, nor how far a stage that has run for an hour
is. Both are in the work folder beside it, found through :class:`ensemble.layout.SweepLayout`:
the driver's lease with its heartbeat (:mod:`ensemble.lease`) and the driver log it writes;
the attempt folder of each running stage, with its LAMMPS log and convergence checks
(:func:`ensemble.progress.stage_progress`). :func:`read_status` reads all of it and joins it
to the store's summary through the pure :func:`ensemble.status.observed`: ``mesosweep status``
and the live page both call it.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mesosweep.ensemble import lease
from mesosweep.ensemble.layout import SweepLayout, parse_stage_dir, stage_label
from mesosweep.ensemble.progress import stage_progress
from mesosweep.ensemble.status import iso, observed, read_summary

__all__ = ["driver_state", "read_status", "stages_in_flight"]


def driver_state(sweep: SweepLayout, now: float | None = None) -> dict[str, Any] | None:
    """The driver that holds the sweep's lease: host, pid, since and heartbeat (UTC times),
    ``alive`` and ``last_seen`` (epoch seconds: its heartbeat); None when no lease is held.

    A lease that is gone while the store still says running leaves only the driver log: its
    last write is then the last sign of life (``alive`` false, host and pid unknown).
    """
    now = time.time() if now is None else now
    held = lease.read(sweep.lease)
    if held is not None:
        return {"host": held.host, "pid": held.pid, "since": iso(held.since),
                "heartbeat": iso(held.heartbeat), "alive": held.alive(now),
                "last_seen": held.heartbeat}
    try:
        last = os.stat(sweep.driver_log).st_mtime
    except OSError:
        return None
    return {"host": None, "pid": None, "since": None, "heartbeat": None, "alive": False,
            "last_seen": last}


def stages_in_flight(sweep: SweepLayout, running: list[dict[str, Any]],
                     now: float | None = None) -> dict[str, list[dict[str, Any]]]:
    """Per running realisation (the ``running`` entries of a summary), the progress of each
    stage running in its work folder, as dicts of :class:`ensemble.events.StageProgress`."""
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in running:
        real = sweep.realisation(entry["case"], int(entry["realisation"]))
        found = []
        for attempt in real.attempt_dirs():
            parsed = parse_stage_dir(attempt.name)
            if parsed is None:
                continue
            progress = stage_progress(attempt, real.label, stage_label(*parsed), now=now)
            if progress is not None:
                found.append(asdict(progress))
        out[real.label] = found
    return out


def read_status(store: str | os.PathLike[str], now: float | None = None) -> dict[str, Any]:
    """:func:`ensemble.status.read_summary` of the store, with its driver and the progress of
    its running stages (:func:`ensemble.status.observed`)."""
    summary = read_summary(store, now=now)
    sweep = SweepLayout(Path(store))
    return observed(summary, driver_state(sweep, now),
                    stages_in_flight(sweep, summary["running"], now))
