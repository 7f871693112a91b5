"""What happens during a sweep, as events: the runner publishes, the views subscribe.

The runner (:func:`ensemble.runner.run_sweep`) schedules and records; it does not draw anything.
It publishes one event for each thing that happened — the sweep started (with the cluster's
links), a realisation was queued, a stage started, finished or failed, a realisation finished,
failed or was queued again — on an :class:`EventBus`. Whoever wants to show them subscribes:
the terminal progress (:class:`ensemble.progress.ProgressPrinter`), the live page
(:class:`mesosweep.live.LivePageSubscriber`), the log (:func:`log_event`). ``mesosweep run``
wires them.

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
    "StageStarted",
    "SweepFinished",
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
    """Subscriber that writes each event to the ``mesosweep.sweep`` logger (level INFO)."""
    fields = " ".join(f"{k}={v}" for k, v in asdict(event).items())
    LOG.info("%s %s", type(event).__name__, fields)
