"""Load balance across MPI ranks: ``python -m bench load_balance STAGE_DIR [...] --ranks 2``.

``balance_speedup``: wall time of bare ``lmp`` on one stage's protocol with its ``fix balance``
removed, over the same with it, on the same beads, ranks and steps (> 1: balancing pays). Also
prints each side's pair time and beads on the least and the most loaded rank. A film fills the
bottom of its box (the plane starts above it) and LAMMPS cuts the box into equal slabs, so
without balancing the ranks above the film wait for the others.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from bench.stage_throughput import bare_lmp_with_and_without, stage_parser
from mesosweep.stages.protocol import Protocol

_PAIR = re.compile(r"^Pair\s*\|\s*([\d.eE+-]+)\s*\|\s*[\d.eE+-]+\s*\|\s*([\d.eE+-]+)", re.MULTILINE)
_NLOCAL = re.compile(r"^Nlocal:\s*[\d.eE+-]+ ave\s+([\d.eE+-]+) max\s+([\d.eE+-]+) min",
                     re.MULTILINE)


def _last(pattern: re.Pattern, log_text: str, what: str) -> tuple[float, float]:
    found = pattern.findall(log_text)
    if not found:
        raise ValueError(f"no {what} line in the log (was the run cut short?)")
    return float(found[-1][0]), float(found[-1][1])


def pair_spread_s(log_text: str) -> tuple[float, float]:
    """(min, max) over ranks of the pair time of the last run in a LAMMPS log, s."""
    return _last(_PAIR, log_text, "'Pair |' timing")


def atoms_spread(log_text: str) -> tuple[int, int]:
    """(min, max) over ranks of the atoms owned at the end of the last run in a LAMMPS log."""
    high, low = _last(_NLOCAL, log_text, "'Nlocal:'")
    return int(low), int(high)


def balance_speedup(stage_dir: Path, steps: int, ranks: int, repeats: int) -> dict:
    """Bare lmp on ``stage_dir``'s protocol cut to ``steps``, with and without ``fix balance``."""
    times, logs = bare_lmp_with_and_without(stage_dir, steps, ranks, repeats, ("fix balance ",))
    fig = {"stage": Protocol.read(stage_dir).stage, "ranks": ranks, "steps": steps,
           "balance_speedup": times["without"] / times["with"]}
    for side, key in (("balanced", "with"), ("unbalanced", "without")):
        fig[f"{side}_s"] = times[key]
        fig[f"pair_spread_{side}_s"] = pair_spread_s(logs[key])
        fig[f"atoms_spread_{side}"] = atoms_spread(logs[key])
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("load_balance", __doc__, ranks=2)
    args = parser.parse_args(argv)
    if args.ranks < 2:
        parser.error("--ranks: balancing needs at least 2 ranks")
    for d in args.stage_dir:
        fig = balance_speedup(d, args.steps, args.ranks, args.repeats)
        print(f"{fig['stage']} stage ({d}), {fig['steps']} steps on {fig['ranks']} ranks:")
        for side in ("unbalanced", "balanced"):
            low, high = fig[f"pair_spread_{side}_s"]
            few, many = fig[f"atoms_spread_{side}"]
            print(f"  {side:<11} {fig[f'{side}_s']:8.1f} s wall; pair time per rank "
                  f"{low:.1f} to {high:.1f} s; beads per rank {few} to {many}")
        print(f"  balance speedup {fig['balance_speedup']:.2f} x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
