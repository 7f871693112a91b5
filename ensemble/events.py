"""What happens during a sweep, as events: the runner publishes, the views subscribe.

The runner (:func:`ensemble.runner.run_sweep`) schedules and records; it does not draw anything.
It publishes one event for each thing that happened — the sweep started (with the cluster's
links), a realisation was queued, a stage started, progressed, finished or failed, a realisation
finished, failed or was queued again, and every so often how far the sweep is — on an
:class:`EventBus`. Whoever wants to show them subscribes: the progress lines
(:class:`ensemble.progress.ProgressLog`, which logs them for the terminal and the driver log),
the live page (:class:`mesosweep.live.LivePageSubscriber`), the structured log
(:func:`log_event`). ``mesosweep run`` wires them.

Events are frozen dataclasses of plain values, so a subscriber can keep them, compare them or
turn them into JSON. Times are seconds; a realisation is named by its label (``case/rNNNN``)
and a stage by its folder name (``slurry``, ``pressing-0.15`` …).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "Event",
    "EventBus",
    "RealisationDone",
    "RealisationEnded",
    "RealisationEvent",
    "RealisationFailed",
    "RealisationQueued",
    "RealisationRetried",
    "StageDone",
    "StageEvent",
    "StageFailed",
    "StageProgress",
    "StageStarted",
    "SweepFinished",
    "SweepProgress",
    "SweepStarted",
    "log_event",
]

LOG = logging.getLogger("mesosweep.sweep")


@dataclass(frozen=True)
class Event:
    """Base of every event."""


@dataclass(frozen=True)
class SweepStarted(Event):
    """Workers are up and realisations are about to be queued."""

    store: Path
    realisations: int  # to run in this sweep (the others are done already)
    cluster_kind: str  # local, slurm, pbs …
    workers: int
    ranks_per_realisation: int
    launcher: tuple[str, ...]  # argv prefix that launches a realisation's MPI ranks
    dask_dashboard: str | None  # link to the Dask dashboard's status page


@dataclass(frozen=True)
class RealisationEvent(Event):
    """Something that happened to one realisation."""

    label: str  # case/rNNNN


@dataclass(frozen=True)
class RealisationQueued(RealisationEvent):
    """Recorded as queued in the store (again, when it is retried)."""


@dataclass(frozen=True)
class StageEvent(RealisationEvent):
    """Something that happened to one stage of a realisation, seen in its work folder."""

    stage: str  # the stage's folder name


@dataclass(frozen=True)
class StageStarted(StageEvent):
    """A stage's LAMMPS run began."""


@dataclass(frozen=True)
class StageDone(StageEvent):
    """A stage's LAMMPS run finished."""

    steps: int
    wall_s: float
    atom_steps_per_s: float


@dataclass(frozen=True)
class StageFailed(StageEvent):
    """A stage's LAMMPS run failed (the store records why)."""


@dataclass(frozen=True)
class StageProgress(StageEvent):
    """How far a running stage is, read from its work folder (:func:`ensemble.progress.
    stage_progress`): steps against the stage's cap and, in a run that stops on a convergence
    rule, the quantity the rule watches and its latest relative change against the tolerance."""

    steps: int  # LAMMPS steps this stage has run so far
    max_steps: int  # the most it runs: fixed runs plus every convergence loop's cap
    elapsed_s: float  # since the stage started
    remaining_s: float | None  # at most this long, at the current pace, to reach the cap
    block: str | None = None  # the convergence loop running (None: a fixed run)
    quantity: str | None = None  # what its rule watches ("density", "film top" …)
    units: str = ""  # of ``value``
    value: float | None = None  # at the latest check
    rule: str | None = None  # the loop's stopping rule (consecutive, extrapolated)
    # What the rule compares with the tolerance at the latest check: the relative change
    # since the check before (consecutive), or the change still to come (extrapolated).
    change: float | None = None
    tolerance: float | None = None  # the loop stops once that stays below this …
    calm: int = 0  # … for this many checks in a row (so far)
    patience: int = 0  # … out of this many


@dataclass(frozen=True)
class SweepProgress(Event):
    """Every so often while realisations run: how far the sweep is."""

    done: int  # realisations of this sweep that ended (failed ones included)
    failed: int
    running: int  # in flight now
    total: int  # realisations of this sweep
    elapsed_s: float  # since the sweep started
    eta_s: float | None  # (total - done) at the pace so far; None before the first end


@dataclass(frozen=True)
class RealisationEnded(RealisationEvent):
    """An attempt at a realisation ended, done or failed."""

    position: int  # how many realisations of this sweep have ended, this one included
    total: int  # realisations of this sweep
    elapsed_s: float  # since the sweep started


@dataclass(frozen=True)
class RealisationDone(RealisationEnded):
    """A realisation finished and its results are in the store."""

    wall_s: float  # its own wall time
    porosity: tuple[float, ...]  # by compression degree, the dried electrode first


@dataclass(frozen=True)
class RealisationFailed(RealisationEnded):
    """An attempt failed; :class:`RealisationRetried` follows if it is rerun (``position`` is
    then this attempt's place had it stayed failed)."""

    error: str  # first part of the error, as the store keeps it


@dataclass(frozen=True)
class RealisationRetried(RealisationEvent):
    """A failed realisation is queued for another attempt."""

    attempt: int  # the attempt it is queued for
    max_attempts: int


@dataclass(frozen=True)
class SweepFinished(Event):
    """No realisation is in flight any more (also when the sweep was interrupted)."""

    store: Path
    done: int  # realisations that ended in this sweep
    failed: int  # of which failed after their last attempt
    interrupted: bool  # ended by an exception (Ctrl-C, a lost scheduler …), not by running out


Subscriber = Callable[[Event], None]


class EventBus:
    """Delivers each published event to its subscribers, in the order they subscribed."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[Subscriber, tuple[type[Event], ...]]] = []

    def subscribe(self, subscriber: Subscriber, *kinds: type[Event]) -> Subscriber:
        """Call ``subscriber(event)`` for every event, or only for events of ``kinds``."""
        self._subscribers.append((subscriber, kinds or (Event,)))
        return subscriber

    def publish(self, event: Event) -> None:
        """Deliver ``event``. A subscriber that raises is logged and skipped: showing a sweep
        must never stop it."""
        for subscriber, kinds in self._subscribers:
            if not isinstance(event, kinds):
                continue
            try:
                subscriber(event)
            except Exception:  # noqa: BLE001 - a view's failure is logged, the sweep goes on
                LOG.exception("event subscriber %r failed on %s", subscriber,
                              type(event).__name__)


def log_event(event: Event) -> None:
    """Subscriber that writes each event, every field, to the ``mesosweep.sweep`` logger at
    level DEBUG: the driver log keeps them, the terminal shows them with ``-v``."""
    fields = " ".join(f"{k}={v}" for k, v in asdict(event).items())
    LOG.debug("%s %s", type(event).__name__, fields)
