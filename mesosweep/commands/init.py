"""``mesosweep init NAME DIR``: write a shipped sweep spec into a folder, to start from."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mesosweep import sweeps
from mesosweep.ensemble.spec import suggest


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init", help="write a shipped sweep spec (the quick sweep or a paper preset) into DIR",
        description="Write the shipped sweep spec NAME into DIR as NAME.toml, to edit and run "
                    "with 'mesosweep run'. An existing file is never overwritten.")
    p.add_argument("name", metavar="NAME",
                   help=f"one of {', '.join(sweeps.names())} ({sweeps.DEFAULT} runs in minutes "
                        f"on a laptop; the paper presets reproduce the paper's cases)")
    p.add_argument("dir", type=Path, metavar="DIR", help="folder to write into (created if needed)")


def run(args: argparse.Namespace) -> int:
    names = sweeps.names()
    if args.name not in names:
        hint = suggest(args.name, names)
        print(f"mesosweep init: no shipped spec named {args.name!r}; choose one of "
              f"{', '.join(names)}" + (f"; did you mean {hint!r}?" if hint else ""),
              file=sys.stderr)
        return 2
    target = args.dir / f"{args.name}.toml"
    if args.dir.exists() and not args.dir.is_dir():
        print(f"mesosweep init: {args.dir} is a file, not a folder; nothing was written",
              file=sys.stderr)
        return 2
    if target.exists() or target.is_symlink():
        print(f"mesosweep init: {target} already exists; nothing was written (remove it or "
              f"choose another DIR)", file=sys.stderr)
        return 2
    try:
        args.dir.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as fh:  # "x": never overwrite, even in a race
            fh.write(sweeps.text(args.name))
    except OSError as exc:
        print(f"mesosweep init: cannot write {target} ({exc.strerror or exc})", file=sys.stderr)
        return 2
    print(f"wrote {target}; check it with: mesosweep run {target} --check")
    return 0
