"""The ``mesosweep`` command: a thin dispatcher over ``mesosweep.commands``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from mesosweep import __version__
from mesosweep.commands import COMMANDS

EPILOG = """\
examples:
  mesosweep run sweeps/quick.toml          run the embedded default sweep (minutes, 2 cores)
  mesosweep run sweeps/quick.toml --check  validate the spec only; nothing runs or is written
  mesosweep particles build vol.tif --voxel-size-um 0.398 --am-label 1 -o particles.npz

The sweep spec's schema is documented in docs/spec.md. Results land in one zarr store that
xarray.open_zarr reads without mesosweep installed.
"""


def _parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="mesosweep",
        description="Ensembles of electrode-manufacturing simulations (slurry, drying, "
                    "calendering in LAMMPS under MPI, spread over Dask workers), compared with "
                    "XCT.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mesosweep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {name: importlib.import_module(f"mesosweep.commands.{name}") for name in COMMANDS}
    for module in modules.values():
        module.add_parser(sub)
    return parser, modules


# Exit status of a command whose reader went away (`mesosweep status STORE | head`): that of a
# process ended by SIGPIPE, as `cat` or `yes` would have.
EXIT_BROKEN_PIPE = 128 + 13


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mesosweep`` console script."""
    parser, modules = _parser()
    args = parser.parse_args(argv)
    try:
        return modules[args.command].run(args)
    except BrokenPipeError:
        # The reader stopped reading: end quietly. Point stdout at /dev/null, or the
        # interpreter's final flush would raise (and print) the same error again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
