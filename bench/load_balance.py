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
import tempfile
from pathlib import Path

from bench.stage_throughput import copy_inputs, stage_parser, timed, truncated
from stages.lammps_env import executable
from stages.protocol import Protocol

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
    text = truncated(Protocol.read(stage_dir), steps).render()
    lines = text.splitlines()
    if not any(line.startswith("fix balance ") for line in lines):
        raise SystemExit(f"{stage_dir}: its protocol has no 'fix balance' (made by an older "
                         "mesosweep?): rebuild the stage's inputs first")
    inputs = {"balanced": text,
              "unbalanced": "\n".join(x for x in lines if not x.startswith("fix balance ")) + "\n"}
    mpiexec = [executable("mpiexec"), "-n", str(ranks)]
    times: dict[str, list[float]] = {k: [] for k in inputs}
    spread: dict[str, tuple[float, float]] = {}
    atoms: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="mesosweep-bench-") as tmp:
        dirs = {k: Path(tmp) / k for k in inputs}
        for k, d in dirs.items():
            copy_inputs(stage_dir, d)
            (d / "in.stage").write_text(inputs[k])
        for _ in range(repeats):  # interleaved, so drifts in machine load hit both alike
            for k, d in dirs.items():
                times[k].append(timed([*mpiexec, executable("lmp"), "-in", "in.stage", "-log",
                                        "log.lammps", "-screen", "none", "-nocite"], d))
                log = (d / "log.lammps").read_text()
                spread[k], atoms[k] = pair_spread_s(log), atoms_spread(log)
    return {"stage": Protocol.read(stage_dir).stage, "ranks": ranks, "steps": steps,
            "balanced_s": min(times["balanced"]), "unbalanced_s": min(times["unbalanced"]),
            "pair_spread_balanced_s": spread["balanced"],
            "pair_spread_unbalanced_s": spread["unbalanced"],
            "atoms_spread_balanced": atoms["balanced"],
            "atoms_spread_unbalanced": atoms["unbalanced"],
            "balance_speedup": min(times["unbalanced"]) / min(times["balanced"])}


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
