"""The sweep a reading command (status, report, export) is pointed at: its store, or the spec
whose ``sweep.output`` that store is."""

from __future__ import annotations

import sys
from pathlib import Path

TARGET_HELP = ("the sweep's zarr store (sweep.output of its spec), or the spec (TOML) itself")


def sweep_store(target: Path, command: str) -> Path | None:
    """The store ``target`` names; None (and one line on stderr saying why) when it names
    none: a spec that does not load, a store that is not one."""
    # Commands import what they run only when run: `mesosweep --help` stays fast.
    from mesosweep.ensemble.spec import SpecError, describe_non_store, load_spec  # noqa: PLC0415

    store = target
    if target.is_file():  # a store is a folder: a file is a spec
        try:
            store = load_spec(target).sweep.output
        except SpecError as exc:
            print(f"mesosweep {command}: {target} is a file, so it was read as a sweep spec, "
                  f"and it is not a valid one:\n{exc}", file=sys.stderr)
            return None
    problem = describe_non_store(store)
    if problem is not None:
        via = f" (sweep.output of {target})" if store != target else ""
        print(f"mesosweep {command}: {problem}{via}; give a sweep's store (a zarr store that "
              "`mesosweep run` wrote) or its spec", file=sys.stderr)
        return None
    return store
