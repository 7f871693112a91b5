"""``mesosweep report STORE``: figures and an HTML page comparing a sweep with XCT."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mesosweep.commands._store import TARGET_HELP, sweep_store


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must lie strictly between 0 and 1")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="figures and an HTML page comparing a sweep with XCT sub-volumes",
        description="Draw the paper's figures for the whole ensemble (spread shown) beside the "
                    "XCT sub-volumes, compute the comparison statistics (means, sd, confidence "
                    "intervals, Welch and distribution tests, realisations needed) and write "
                    "them with an index.html. Figures whose metrics are not in the store are "
                    "skipped with a note. See docs/comparison.md.",
        epilog="example: mesosweep report quick.zarr -o quick-report  (then open "
               "quick-report/index.html)")
    p.add_argument("store", type=Path, metavar="STORE|SPEC", help=TARGET_HELP)
    p.add_argument("--xct", type=Path, default=None,
                   help="store of the XCT sub-volumes (default: the store's own 'xct' group)")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for the report")
    p.add_argument("--force", action="store_true",
                   help="replace a report already in the output folder")
    p.add_argument("--level", type=_fraction, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--alpha", type=_fraction, default=0.05,
                   help="significance level of the sample-size calculation (default 0.05)")
    p.add_argument("--power", type=_fraction, default=0.8,
                   help="power of the sample-size calculation (default 0.8)")
    p.add_argument("--difference", type=_fraction, default=0.05,
                   help="difference to resolve, fraction of the XCT mean (default 0.05)")


def run(args: argparse.Namespace) -> int:
    store = sweep_store(args.store, "report")
    if store is None:
        return 2
    if args.xct is not None and not (args.xct / "zarr.json").is_file():
        print(f"mesosweep: --xct {args.xct} is not a zarr store; write one with "
              "`mesosweep xct measure`", file=sys.stderr)
        return 2
    started = time.perf_counter()
    # matplotlib loads here
    from mesosweep.report.html import build_report, output_problem  # noqa: PLC0415

    problem = output_problem(args.output, overwrite=args.force)
    if problem is not None:  # before any figure is drawn
        print(f"mesosweep report: --output {problem}", file=sys.stderr)
        return 2
    try:
        index = build_report(store, args.output, xct=args.xct, level=args.level,
                             alpha=args.alpha, power=args.power, difference=args.difference,
                             overwrite=args.force)
    except (ValueError, OSError) as exc:
        print(f"mesosweep: {exc}", file=sys.stderr)
        return 2
    drawn = sorted(p.name for p in args.output.glob("fig*.png"))
    print(f"report: {len(drawn)} figure(s) -> {index} ({time.perf_counter() - started:.1f} s)")
    return 0
