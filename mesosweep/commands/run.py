"""``mesosweep run SPEC``: validate a sweep spec in full, then run or resume it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mesosweep.ensemble.events import EventBus


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run (or resume) a sweep described by a TOML spec",
                       description="Validate the spec in full, then run every realisation not "
                                   "yet done and write the results into the spec's store.")
    p.add_argument("spec", type=Path, help="sweep spec (TOML), e.g. sweeps/quick.toml")
    p.add_argument("--check", action="store_true",
                   help="validate the spec and print its plan; run nothing, write nothing")
    p.add_argument("--extend", action="store_true",
                   help="let a spec with more realisations or compression degrees grow an "
                        "existing store (finished stages are reused)")


def run(args: argparse.Namespace) -> int:
    # Commands import what they run only when run: `mesosweep --help` stays fast.
    from mesosweep.ensemble.plan import plan  # noqa: PLC0415
    from mesosweep.ensemble.spec import SpecError, check_forcefields, load_spec  # noqa: PLC0415
    from mesosweep.ensemble.workload import check_workload  # noqa: PLC0415

    try:
        spec = load_spec(args.spec)
        check_forcefields(spec)
        work = check_workload(spec)  # what cannot finish is refused before anything is written
    except SpecError as exc:
        print(f"mesosweep: invalid sweep spec\n{exc}", file=sys.stderr)
        return 2
    from mesosweep.ensemble.runner import check_store, run_sweep  # noqa: PLC0415
    from mesosweep.errors import InputError, MesosweepError  # noqa: PLC0415

    if args.check:  # every check the run makes before it writes anything; nothing is written
        try:
            action = check_store(spec, args.extend)
        except InputError as exc:
            print(f"mesosweep: {exc}", file=sys.stderr)
            return 2
        print(f"{args.spec}: valid; {len(plan(spec))} realisation(s) x "
              f"{len(spec.process.compression_degrees)} compression degree(s) -> "
              f"{spec.sweep.output} (would {action} it)\n"
              f"each realisation: {work.summary()}")
        return 0
    try:
        return run_sweep(spec, extend=args.extend, events=progress_views())
    except InputError as exc:
        print(f"mesosweep: {exc}", file=sys.stderr)
        return 2
    except MesosweepError as exc:  # the store is busy, the batch system refused the jobs …
        print(f"mesosweep: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the workers started: nothing to stop
        print("\nmesosweep: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


def progress_views() -> EventBus:
    """The runner's events, shown: progress lines (logged: the terminal and the driver log),
    the live page, the structured log."""
    from mesosweep.ensemble.events import (  # noqa: PLC0415
        EventBus,
        SweepFinished,
        SweepStarted,
        log_event,
    )
    from mesosweep.ensemble.progress import ProgressLog  # noqa: PLC0415
    from mesosweep.live import LivePageSubscriber  # noqa: PLC0415 - tornado, for the page

    events = EventBus()
    events.subscribe(ProgressLog())  # first: the cluster line before the page's URL
    events.subscribe(LivePageSubscriber(), SweepStarted, SweepFinished)
    events.subscribe(log_event)
    return events
