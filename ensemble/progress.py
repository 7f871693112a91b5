"""Progress of running realisations: read from their work directories, shown as log lines.

Each stage leaves ``log.lammps`` while it runs and ``result.json`` when it ends, so the driver
(or anyone with the shared filesystem) can tell what is running and what finished without
asking the workers: :class:`StageWatcher` turns what it sees into stage events
(:mod:`ensemble.events`). Inside a running stage, :func:`stage_progress` reads how far it is:
its steps from the LAMMPS log's thermo lines against the cap that ``protocol.json`` declares
(fixed runs plus the caps of its convergence loops), and, in a convergence loop, the quantity
the loop watches from the ``converge-<name>.txt`` that the LAMMPS input itself writes, one
``steps value`` line per check (:mod:`stages.protocol`).

:class:`ProgressLog` is the subscriber that turns events into the lines a person following the
sweep wants to see, on the ``mesosweep.progress`` logger: the terminal shows them (with their
time), the driver log keeps them.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from mesosweep.ensemble.events import (
    Event,
    RealisationDone,
    RealisationFailed,
    RealisationRetried,
    StageDone,
    StageEvent,
    StageFailed,
    StageProgress,
    StageStarted,
    SweepProgress,
    SweepStarted,
)
from mesosweep.ensemble.layout import stage_label
from mesosweep.ensemble.pipeline import BY_NAME
from mesosweep.ensemble.plan import Realisation
from mesosweep.ensemble.status import duration, progress_line
from mesosweep.stages.protocol import LOG_FILE, PROTOCOL_FILE, RESULT_FILE, history_file

LOG = logging.getLogger("mesosweep.progress")
PROGRESS_EVERY_S = 10.0  # a running stage's progress is read (and published) at most this often
STAGE_LINE_S = 60.0  # ... and shown on the terminal at most this often per stage (all: -v)
LOG_HEAD_BYTES = 65536  # where the first thermo line of a LAMMPS log is looked for
LOG_TAIL_BYTES = 16384  # where its latest one is
# What each convergence loop's variable is, for people: (name, units). The stages watch the
# slurry's density and the film's top (the highest bead surface) while it relaxes.
WATCHED = {"density_g_cm3": ("density", "g/cm^3"), "thickness": ("film top", "um")}


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


def _thermo_steps(log: Path) -> tuple[int, int] | None:
    """(first, latest) step of the thermo lines of a LAMMPS log; None before the first one.

    A thermo line is a row of numbers, as many as the ``Step …`` header above it names, the
    step first (every stage's ``thermo_style`` starts with it). Only the log's head and tail
    are read, so a day-long log costs no more than a fresh one.
    """
    try:
        with log.open("rb") as fh:
            head = fh.read(LOG_HEAD_BYTES)
            size = fh.seek(0, 2)
            fh.seek(max(0, size - LOG_TAIL_BYTES))
            tail = fh.read()
    except OSError:
        return None

    def rows(lines: list[str], columns: int) -> tuple[list[int], int]:
        """Steps of the thermo rows in ``lines``; ``columns`` of the header seen before."""
        found = []
        for line in lines:
            words = line.split()
            if words[:1] == ["Step"]:
                columns = len(words)
            elif len(words) == columns and words[0].isdigit() and all(map(_number, words)):
                found.append(int(words[0]))
        return found, columns

    first, columns = rows(head.decode("utf-8", "replace").splitlines(), 0)
    if not first:
        return None
    # The tail's first line may be cut anywhere: it is left out.
    latest, _ = rows(tail.decode("utf-8", "replace").splitlines()[1:], columns)
    return first[0], (latest or first)[-1]


def _number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _history(path: Path) -> list[tuple[int, float]]:
    """The ``steps value`` checks a convergence loop wrote so far (comments skipped)."""
    out = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        words = line.split()
        if len(words) == 2 and not words[0].startswith("#"):
            try:
                out.append((int(words[0]), float(words[1])))
            except ValueError:  # a line being written right now
                break
    return out


def stage_progress(directory: Path, label: str, stage: str,
                   now: float | None = None) -> StageProgress | None:
    """How far the stage running in ``directory`` is; None when it has not run a step yet.

    Steps are counted from the stage's first thermo line; the cap is every fixed ``run`` of
    its protocol plus the caps of its convergence loops, so the remaining time is an upper
    bound at the pace so far (a loop that converges stops earlier). Times are seconds.
    """
    now = time.time() if now is None else now
    try:
        protocol = json.loads((directory / PROTOCOL_FILE).read_text())
        started = (directory / PROTOCOL_FILE).stat().st_mtime  # written as the stage starts
    except (OSError, ValueError):
        return None
    steps = _thermo_steps(directory / LOG_FILE)
    if steps is None:
        return None
    done = steps[1] - steps[0]
    cap, loop = 0, None
    for block in protocol.get("blocks", []):
        if block.get("kind") == "converge":
            cap += int(block["max_steps"])
            if (directory / history_file(block["name"])).exists():
                loop = block  # the latest loop that began (its file is written as it begins)
        else:
            cap += sum(int(w[1]) for w in (line.split() for line in block.get("lines", ()))
                       if len(w) == 2 and w[0] == "run" and w[1].isdigit())
    elapsed = max(now - started, 0.0)
    remaining = (max(cap - done, 0) * elapsed / done) if done > 0 and cap else None
    fields: dict = {}
    if loop is not None:
        checks = _history(directory / history_file(loop["name"]))
        quantity, units = WATCHED.get(loop["variable"], (loop["variable"], ""))
        fields = {"block": loop["name"], "quantity": quantity, "units": units,
                  "tolerance": float(loop["tolerance"]), "patience": int(loop["patience"])}
        if checks:
            rule = loop.get("rule", "consecutive")
            measures = rule_measures([v for _, v in checks], rule)
            calm = 0
            for measure in measures:
                calm = calm + 1 if measure is not None and measure < fields["tolerance"] else 0
            fields.update(value=checks[-1][1], calm=calm, change=measures[-1], rule=rule)
    return StageProgress(label, stage, steps=done, max_steps=cap, elapsed_s=round(elapsed, 1),
                         remaining_s=round(remaining, 1) if remaining is not None else None,
                         **fields)


def rule_measures(values: list[float], rule: str) -> list[float | None]:
    """At each check, what a convergence loop's rule compares with its tolerance (None before
    it can judge), as the LAMMPS input computes it (:class:`stages.protocol.Converge`):
    ``consecutive``, the relative change since the previous check; ``extrapolated``, the
    change still to come estimated from the last three checks, relative to the value (infinite
    for a drift)."""
    out: list[float | None] = []
    for k, value in enumerate(values):
        if rule == "extrapolated":
            if k < 2:
                out.append(None)
                continue
            d1, d2 = values[k - 1] - values[k - 2], value - values[k - 1]
            ratio = d2 * d1 / (d1 * d1 + 1e-300)
            left = (math.inf if ratio >= 1 else abs(d2) if ratio <= 0
                    else abs(d2) * ratio / (1 - ratio))
            out.append(left / max(abs(value), 1e-300))
        else:
            out.append(abs(value - values[k - 1]) / max(abs(values[k - 1]), 1e-300)
                       if k else None)
    return out


class StageWatcher:
    """Reports each stage transition of the watched realisations once, and the progress of
    each running stage every ``progress_every_s`` while it moves."""

    def __init__(self, realisations: Iterable[Realisation],
                 progress_every_s: float = PROGRESS_EVERY_S):
        self.realisations = list(realisations)
        self.progress_every_s = progress_every_s
        self._seen: dict[tuple[str, str], str] = {}
        self._progress: dict[tuple[str, str], tuple[float, int]] = {}  # when read, steps then

    def poll(self, now: float | None = None) -> list[StageEvent]:
        """New transitions (and progress) since the last poll, as events."""
        now = time.time() if now is None else now
        events: list[StageEvent] = []
        for real in self.realisations:
            for stage, degree, d in real.layout.stage_dirs():
                if not BY_NAME[stage].lammps:
                    continue
                name = stage_label(stage, degree)
                state, result = stage_state(d)
                key = (real.label, name)
                if state == "pending":
                    continue
                if self._seen.get(key) != state:
                    self._seen[key] = state
                    if state == "done":
                        events.append(StageDone(real.label, name, steps=int(result["steps"]),
                                                wall_s=float(result["wall_s"]),
                                                atom_steps_per_s=float(
                                                    result["atom_steps_per_s"])))
                    elif state == "running":
                        events.append(StageStarted(real.label, name))
                    else:
                        events.append(StageFailed(real.label, name))
                if state == "running":
                    events.extend(self._moved(key, d, now))
        return events

    def _moved(self, key: tuple[str, str], directory: Path, now: float) -> list[StageProgress]:
        """The stage's progress, if it is time to read it again and it ran steps since."""
        last = self._progress.get(key)
        if last is not None and now - last[0] < self.progress_every_s:
            return []
        progress = stage_progress(directory, *key, now=now)
        self._progress[key] = (now, progress.steps if progress else -1)
        # Nothing to say before the first step (StageStarted said it runs) or without a step
        # since the last time.
        if progress is None or progress.steps == 0 or (last is not None
                                                       and progress.steps == last[1]):
            return []
        return [progress]


class ProgressLog:
    """Subscriber that logs a sweep's events as lines of text (``mesosweep run``'s output)
    on the ``mesosweep.progress`` logger: INFO for what the terminal shows, DEBUG for the
    progress of a stage shown less than ``stage_line_s`` ago (the driver log keeps it all)."""

    def __init__(self, stage_line_s: float = STAGE_LINE_S) -> None:
        self.stage_line_s = stage_line_s
        self._shown: dict[tuple[str, str], float] = {}

    def __call__(self, event: Event) -> None:
        line = self.line(event)
        if line is None:
            return
        level = logging.INFO
        if isinstance(event, StageProgress):
            key, now = (event.label, event.stage), time.monotonic()
            if now - self._shown.get(key, -self.stage_line_s) < self.stage_line_s:
                level = logging.DEBUG
            else:
                self._shown[key] = now
        LOG.log(level, "%s", line)

    @staticmethod
    def line(event: Event) -> str | None:
        """The line for ``event``, or None for an event the terminal does not show."""
        match event:
            case SweepStarted():
                return (f"cluster: {event.workers} {event.cluster_kind} worker(s) x "
                        f"{event.ranks_per_realisation} MPI rank(s), launched with "
                        f"'{shlex.join(event.launcher)}'; dashboard {event.dask_dashboard}")
            case SweepProgress():
                eta = (f"ETA {duration(event.eta_s)}" if event.eta_s is not None
                       else "ETA known once a realisation ends")
                return (f"progress: {event.done}/{event.total} done ({event.failed} failed), "
                        f"{event.running} running, {duration(event.elapsed_s)} into the sweep; "
                        f"{eta}")
            case StageStarted():
                return f"  {event.label} {event.stage}: running"
            case StageProgress():
                return f"  {event.label} {event.stage}: {progress_line(asdict(event))}"
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
