"""``mesosweep status STORE``: what a sweep is doing, from its store alone.

Works while the sweep runs and after its driver ended or died: nothing but the store is read
(plus the batch queue, :mod:`cluster.queue`, when there is one, for the batch jobs in flight).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

WATCH_DEFAULT_S = 5.0
WATCH_MIN_S = 0.5  # below this the store would be re-read faster than workers write it
# --watch stops by itself once nothing has been queued or running for this long. Not at the
# first idle look: after a failure the driver needs up to a couple of seconds to queue the
# retry, and a watcher must not leave in that gap.
IDLE_STOP_S = 15.0
CLEAR = "\033[H\033[2J"  # cursor home, clear screen (VT100; every terminal emulator has it)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status", help="what a sweep is doing: counts per case and stage, failures, ETA",
        description="Read a sweep's results store and print, on one screen: realisations "
                    "queued, running, done and failed per case and per stage; failed "
                    "realisations with the first line of their error; throughput and an "
                    "estimated time to completion. Needs no scheduler: works while the sweep "
                    "runs and after its driver ended. Under Slurm, also lists your batch jobs "
                    "in flight (squeue).",
        epilog="--watch stops on Ctrl-C, or by itself once nothing has been queued or running "
               f"for {IDLE_STOP_S:.0f} s. --serve shows the live page of docs/dashboard.md "
               "for a store whose driver is not running.")
    p.add_argument("store", type=Path, help="the sweep's zarr store (sweep.output of its spec)")
    p.add_argument("--json", action="store_true",
                   help="print the status as one JSON object (for scripts) instead of text")
    p.add_argument("--watch", nargs="?", type=float, const=WATCH_DEFAULT_S, default=None,
                   metavar="SECONDS",
                   help=f"refresh every SECONDS (default {WATCH_DEFAULT_S:g}) until Ctrl-C or "
                        "until the sweep is idle")
    p.add_argument("--verify", action="store_true",
                   help="check every record of every done realisation against what its last "
                        "task wrote (a lost or damaged chunk is found); exit status 1 if any "
                        "differs (rerunning the sweep's command makes them again)")
    p.add_argument("--serve", nargs="?", type=int, const=0, default=None, metavar="PORT",
                   help="serve the live page for this store on 127.0.0.1:PORT (default: a free "
                        "port; address from MESOSWEEP_DASHBOARD_HOST) until Ctrl-C")


def _show(store: Path, as_json: bool, clear: bool, lines: bool = False) -> bool:
    """Print one status; True when nothing is queued or running.

    ``lines``: JSON on one line (``--watch --json`` prints JSON Lines, one object a refresh).
    """
    # Commands import what they run only when run: `mesosweep --help` stays fast.
    from mesosweep.cluster.queue import render_slurm, slurm_jobs  # noqa: PLC0415
    from mesosweep.ensemble.status import read_summary, render_text  # noqa: PLC0415

    summary = read_summary(store)
    summary["driver"] = _driver(store)
    jobs = slurm_jobs()
    if as_json:
        summary["slurm_jobs"] = jobs
        print(json.dumps(summary, indent=None if lines else 2, sort_keys=True), flush=True)
    else:
        text = render_text(summary)
        if summary["driver"] is not None:
            d = summary["driver"]
            text += (f"\ndriver: host {d['host']}, pid {d['pid']}, since {d['since']} "
                     f"({'running' if d['alive'] else 'gone: rerun its command to resume'})")
        if jobs is not None:
            text += "\n\n" + render_slurm(jobs)
        print((CLEAR if clear else "") + text, flush=True)
    return bool(summary["complete"])


def _driver(store: Path) -> dict | None:
    """The driver that holds the store's lease (None: no driver has it)."""
    from mesosweep.ensemble import lease  # noqa: PLC0415
    from mesosweep.ensemble.layout import SweepLayout  # noqa: PLC0415

    held = lease.read(SweepLayout(store).lease)
    if held is None:
        return None
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(held.since))
    return {"host": held.host, "pid": held.pid, "since": since, "alive": held.alive()}


def _verify(store: Path) -> int:
    from mesosweep.ensemble import store as results  # noqa: PLC0415
    from mesosweep.ensemble.layout import realisation_label  # noqa: PLC0415

    group = results.writer(store)
    cases = [str(c) for c in group["case"][...]]
    done = int((group["status"][...] == results.DONE).sum())
    damaged = results.verify(group)
    for (c, r), names in sorted(damaged.items()):
        print(f"{realisation_label(cases[c], r)}: records lost or damaged: {', '.join(names)}")
    print(f"verified {done} done realisation(s): "
          + (f"{len(damaged)} with lost or damaged records; rerun the sweep's command to make "
             "them again" if damaged else "every record as written"))
    return 1 if damaged else 0


def _watch(store: Path, every: float, as_json: bool) -> int:
    clear = sys.stdout.isatty() and not as_json  # a pipe or a log gets plain successive screens
    idle_since: float | None = None
    first = True
    try:
        while True:
            idle = _show(store, as_json, clear, lines=True)
            now = time.monotonic()
            if idle and first:
                return 0  # finished before we looked: nothing to watch
            first = False
            if not idle:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= IDLE_STOP_S:
                return 0
            if not clear and not as_json:
                print("", flush=True)
            time.sleep(every)
    except KeyboardInterrupt:
        return 0


def _serve(store: Path, port: int) -> int:
    from mesosweep.live import (  # noqa: PLC0415 - tornado loads only here
        LivePage,
        dashboard_host,
        print_access,
    )

    page = LivePage(store, host=dashboard_host(), port=port).start()
    print_access(page, sys.stdout)
    print("serving until Ctrl-C", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        page.stop(drain=False)


def run(args: argparse.Namespace) -> int:
    from mesosweep.ensemble.spec import describe_non_store  # noqa: PLC0415

    problem = describe_non_store(args.store)
    if problem is not None:
        print(f"mesosweep status: {problem}; give the sweep.output path of its spec (a zarr "
              "store that `mesosweep run` wrote)", file=sys.stderr)
        return 2
    if args.verify:
        return _verify(args.store)
    if args.serve is not None:
        if not 0 <= args.serve <= 65535:
            print("mesosweep status: --serve PORT must be 0 … 65535", file=sys.stderr)
            return 2
        return _serve(args.store, args.serve)
    if args.watch is not None:
        if not args.watch >= WATCH_MIN_S:
            print(f"mesosweep status: --watch SECONDS must be at least {WATCH_MIN_S:g}",
                  file=sys.stderr)
            return 2
        return _watch(args.store, args.watch, args.json)
    _show(args.store, args.json, clear=False)
    return 0
