"""``mesosweep run SPEC``: validate a sweep spec in full, then run or resume it."""

from __future__ import annotations

import argparse
import json
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
                   help="validate the spec and print its plan: cases x realisations x degrees, "
                        "stages, core-hours (with the cost model's error), the job script and "
                        "the batch system's verdict on it, what happens to the store; run "
                        "nothing, write nothing, submit nothing")
    p.add_argument("--json", action="store_true",
                   help="with --check: print the plan as JSON, for scripts")
    p.add_argument("--extend", action="store_true",
                   help="let a spec with more realisations or compression degrees grow an "
                        "existing store (finished stages are reused)")


def run(args: argparse.Namespace) -> int:
    # Commands import what they run only when run: `mesosweep --help` stays fast.
    from mesosweep.commands._check import plan_report, render  # noqa: PLC0415
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
            report = plan_report(spec, args.spec, work, action)
        except InputError as exc:
            print(f"mesosweep: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(report, indent=1) if args.json else render(report))
        # A job script its batch system refuses: the run would stop there too (ClusterError).
        return 2 if (report["verdict"] or {}).get("accepted") is False else 0
    if args.json:
        print("mesosweep: --json goes with --check", file=sys.stderr)
        return 2
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
