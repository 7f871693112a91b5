"""Cost of the blow-up watchdog: ``python -m bench watchdog STAGE_DIR [...] --ranks 2``.

``watchdog_cost``: wall time of bare ``lmp`` on one stage's protocol as it is, over the same with
the watchdog's lines removed (its variable and ``fix halt``; ``stages.inputs.watchdog_commands``),
on the same beads, ranks and steps: 1.00 means free, 1.01 a 1 % slowdown. The watchdog tallies
the kinetic and potential energies on one step in ``WATCHDOG_EVERY``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.stage_throughput import bare_lmp_with_and_without, stage_parser
from mesosweep.stages.protocol import Protocol
from mesosweep.stages.runner import WATCHDOG, WATCHDOG_EVERY

#: How the lines of ``stages.inputs.watchdog_commands`` start: what the bare side drops.
WATCHDOG_LINES = (f"variable {WATCHDOG} ", f"fix {WATCHDOG} ")


def watchdog_cost(stage_dir: Path, steps: int, ranks: int, repeats: int) -> dict:
    """Bare lmp on ``stage_dir``'s protocol cut to ``steps``, with and without the watchdog."""
    times, _ = bare_lmp_with_and_without(stage_dir, steps, ranks, repeats, WATCHDOG_LINES)
    return {"stage": Protocol.read(stage_dir).stage, "ranks": ranks, "steps": steps,
            "with_s": times["with"], "without_s": times["without"],
            "watchdog_cost": times["with"] / times["without"]}


def main(argv: list[str] | None = None) -> int:
    args = stage_parser("watchdog", __doc__, ranks=2).parse_args(argv)
    for d in args.stage_dir:
        fig = watchdog_cost(d, args.steps, args.ranks, args.repeats)
        print(f"{fig['stage']} stage ({d}), {fig['steps']} steps on {fig['ranks']} rank(s), "
              f"checks every {WATCHDOG_EVERY} steps:")
        print(f"  without watchdog {fig['without_s']:8.1f} s wall")
        print(f"  with watchdog    {fig['with_s']:8.1f} s wall")
        print(f"  watchdog cost    {fig['watchdog_cost']:.3f} x   (1 = free)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
