"""Progress of running realisations: read from their work directories, shown in a terminal.

Each stage leaves ``log.lammps`` while it runs and ``result.json`` when it ends, so the driver
(or anyone with the shared filesystem) can tell what is running and what finished without
asking the workers: :class:`StageWatcher` turns what it sees into stage events
(:mod:`ensemble.events`). :class:`ProgressPrinter` is the terminal's subscriber: one line per
event that a person following the sweep wants to see.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from mesosweep.ensemble.events import (
    Event,
    RealisationDone,
    RealisationFailed,
    RealisationRetried,
    StageDone,
    StageEvent,
    StageFailed,
    StageStarted,
    SweepStarted,
)
from mesosweep.ensemble.layout import stage_label
from mesosweep.ensemble.pipeline import BY_NAME
from mesosweep.ensemble.plan import Realisation
from mesosweep.stages.protocol import LOG_FILE, RESULT_FILE


def stage_state(directory: Path) -> tuple[str, dict]:
    """('running' | 'done' | 'failed' | 'pending', result) of one stage directory."""
    result_path = directory / RESULT_FILE
    if result_path.exists():
        try:
            result = json.loads(result_path.read_text())
        except json.JSONDecodeError:  # being written right now
            return "running", {}
        return result.get("status", "failed"), result
    if (directory / LOG_FILE).exists():
        return "running", {}
    return "pending", {}


class StageWatcher:
    """Reports each stage transition of the watched realisations once."""

    def __init__(self, realisations: Iterable[Realisation]):
        self.realisations = list(realisations)
        self._seen: dict[tuple[str, str], str] = {}

    def poll(self) -> list[StageEvent]:
        """New transitions since the last poll, as events."""
        events: list[StageEvent] = []
        for real in self.realisations:
            for stage, degree, d in real.layout.stage_dirs():
                if not BY_NAME[stage].lammps:
                    continue
                name = stage_label(stage, degree)
                state, result = stage_state(d)
                key = (real.label, name)
                if state == "pending" or self._seen.get(key) == state:
                    continue
                self._seen[key] = state
                if state == "done":
                    events.append(StageDone(real.label, name, steps=int(result["steps"]),
                                            wall_s=float(result["wall_s"]),
                                            atom_steps_per_s=float(result["atom_steps_per_s"])))
                elif state == "running":
                    events.append(StageStarted(real.label, name))
                else:
                    events.append(StageFailed(real.label, name))
        return events


class ProgressPrinter:
    """Subscriber that prints a sweep's events as lines of text (``mesosweep run``'s output)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: Event) -> None:
        line = self.line(event)
        if line is not None:
            print(line, file=self.out, flush=True)

    @staticmethod
    def line(event: Event) -> str | None:
        """The line for ``event``, or None for an event the terminal does not show."""
        match event:
            case SweepStarted():
                return (f"cluster: {event.workers} {event.cluster_kind} worker(s) x "
                        f"{event.ranks_per_realisation} MPI rank(s), launched with "
                        f"'{shlex.join(event.launcher)}'; dashboard {event.dask_dashboard}")
            case StageStarted():
                return f"  {event.label} {event.stage}: running"
            case StageDone():
                return (f"  {event.label} {event.stage}: done, {event.steps} steps in "
                        f"{event.wall_s:.1f} s ({event.atom_steps_per_s:.3g} atom-steps/s)")
            case StageFailed():
                return f"  {event.label} {event.stage}: failed"
            case RealisationDone():
                por = " ".join(f"{p:.3f}" for p in event.porosity)
                return (f"[{event.position}/{event.total}] {event.label} done in "
                        f"{event.wall_s:.0f} s ({event.elapsed_s:.0f} s into the sweep); "
                        f"porosity by degree: {por}")
            case RealisationFailed():
                return (f"[{event.position}/{event.total}] {event.label} FAILED after "
                        f"{event.elapsed_s:.0f} s: {event.error}")
            case RealisationRetried():
                return (f"  {event.label}: retrying (attempt {event.attempt} of "
                        f"{event.max_attempts})")
        return None
