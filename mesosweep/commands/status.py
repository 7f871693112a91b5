"""``mesosweep status STORE``: what a sweep is doing, from its store and its work folder.

Works while the sweep runs and after its driver ended or died: the store is read, and the work
folder beside it for the driver's heartbeat and the progress of the stages in flight
(:mod:`ensemble.observe`), plus the batch queue, :mod:`cluster.queue`, when there is one, for
the batch jobs in flight.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mesosweep.commands._store import TARGET_HELP, sweep_store

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
                    "queued, running, done and failed per case and per stage; the progress of "
                    "each running stage (steps, the quantity its stopping rule watches, time "
                    "left); failed realisations with the first line of their error; throughput "
                    "and an estimated time to completion; the driver, or since when it is gone "
                    "(its realisations in flight are then stale). Needs no scheduler: works "
                    "while the sweep runs and after its driver ended. Under Slurm, also lists "
                    "your batch jobs in flight (squeue).",
        epilog="--watch stops on Ctrl-C, or by itself once nothing has been queued or running "
               f"for {IDLE_STOP_S:.0f} s (or the driver is gone). --serve shows the live page "
               "of docs/dashboard.md for a store whose driver is not running. Exit status: 0; "
               "1 when --verify finds damaged records; 2 when STORE is neither a store nor a "
               "spec.")
    p.add_argument("store", type=Path, metavar="STORE|SPEC", help=TARGET_HELP)
    p.add_argument("--json", action="store_true",
                   help="print the status as one JSON object (for scripts) instead of text")
    p.add_argument("--watch", action="store_true",
                   help="refresh until Ctrl-C or until the sweep is idle (every --interval)")
    p.add_argument("-n", "--interval", type=float, default=WATCH_DEFAULT_S, metavar="SECONDS",
                   help=f"seconds between refreshes of --watch (default {WATCH_DEFAULT_S:g}, "
                        f"at least {WATCH_MIN_S:g})")
    p.add_argument("--verify", action="store_true",
                   help="check every record of every done realisation against what its last "
                        "task wrote (a lost or damaged chunk is found); exit status 1 if any "
                        "differs (rerunning the sweep's command makes them again)")
    p.add_argument("--serve", action="store_true",
                   help="serve the live page for this store until Ctrl-C (on 127.0.0.1, or "
                        "MESOSWEEP_DASHBOARD_HOST)")
    p.add_argument("--port", type=int, default=None, metavar="PORT",
                   help="port of --serve (default: MESOSWEEP_DASHBOARD_PORT, else a free one)")
    p.add_argument("--base-path", default=None, metavar="PATH",
                   help="serve --serve's page under this URL path, for a proxy that passes the "
                        "whole path on (Open OnDemand's /node/HOST/PORT/, Jupyter's "
                        "/proxy/absolute/PORT/); default: MESOSWEEP_DASHBOARD_BASE_PATH, else /")
    p.add_argument("--allowed-host", action="append", default=None, metavar="HOST",
                   help="a host name the page answers to besides the loopback names (the "
                        "proxy's, as the browser shows it); repeat for more; default: "
                        "MESOSWEEP_DASHBOARD_ALLOWED_HOSTS (comma-separated)")


def _show(store: Path, as_json: bool, clear: bool, lines: bool = False) -> bool:
    """Print one status; True when nothing will move without a new command (nothing queued
    or running, or the driver is gone).

    ``lines``: JSON on one line (``--watch --json`` prints JSON Lines, one object a refresh).
    """
    # Commands import what they run only when run: `mesosweep --help` stays fast.
    from mesosweep.cluster.queue import render_slurm, slurm_jobs  # noqa: PLC0415
    from mesosweep.ensemble.observe import read_status  # noqa: PLC0415
    from mesosweep.ensemble.status import render_text  # noqa: PLC0415

    summary = read_status(store)
    jobs = slurm_jobs()
    if as_json:
        summary["slurm_jobs"] = jobs
        print(json.dumps(summary, indent=None if lines else 2, sort_keys=True), flush=True)
    else:
        text = render_text(summary)
        if jobs is not None:
            text += "\n\n" + render_slurm(jobs)
        print((CLEAR if clear else "") + text, flush=True)
    return bool(summary["complete"] or summary["driver_gone"])


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


def _serve(store: Path, args: argparse.Namespace) -> int:
    from mesosweep.live import (  # noqa: PLC0415 - tornado loads only here
        LivePage,
        access_lines,
        allowed_hosts,
        base_path,
        dashboard_host,
        dashboard_port,
    )

    try:
        root = base_path(args.base_path)
        hosts = allowed_hosts(",".join(args.allowed_host) if args.allowed_host else None)
    except ValueError as exc:
        print(f"mesosweep status: {exc}", file=sys.stderr)
        return 2
    port = args.port if args.port is not None else (dashboard_port() or 0)
    page = LivePage(store, host=dashboard_host(), port=port, base_path=root,
                    allowed_hosts=hosts).start()
    print("\n".join(access_lines(page)), flush=True)
    print("serving until Ctrl-C", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        page.stop(drain=False)


def run(args: argparse.Namespace) -> int:
    store = sweep_store(args.store, "status")
    if store is None:
        return 2
    if args.verify:
        return _verify(store)
    if args.serve:
        if args.port is not None and not 0 <= args.port <= 65535:
            print("mesosweep status: --port must be 0 … 65535", file=sys.stderr)
            return 2
        return _serve(store, args)
    if args.watch:
        if not args.interval >= WATCH_MIN_S:
            print(f"mesosweep status: --interval SECONDS must be at least {WATCH_MIN_S:g}",
                  file=sys.stderr)
            return 2
        return _watch(store, args.interval, args.json)
    _show(store, args.json, clear=False)
    return 0
