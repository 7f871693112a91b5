"""Run benchmarks: ``python -m bench`` (every figure) or ``python -m bench FIGURE [args …]``.

Every figure is printed as a ratio against a peer or a bare baseline measured in the same run.
``python -m bench FIGURE --help`` lists a figure's options.
"""

from __future__ import annotations

import importlib
import sys

from bench import FIGURES, LONG


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        print("figures:\n" + "\n".join(f"  {name}" for name in FIGURES))
        print("long (only when named):\n" + "\n".join(f"  {name}" for name in LONG))
        return 0
    if argv and argv[0] in FIGURES + LONG:
        return importlib.import_module(f"bench.{argv[0]}").main(argv[1:])
    if argv:
        print(f"unknown figure {argv[0]!r}; known: {', '.join(FIGURES + LONG)}", file=sys.stderr)
        return 2
    status = 0
    for name in FIGURES:
        print(f"== {name}", flush=True)
        status |= importlib.import_module(f"bench.{name}").main([])
    return status


if __name__ == "__main__":
    sys.exit(main())
