"""The ``mesosweep`` command: a thin dispatcher over ``mesosweep.commands``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

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
    _verbosity(parser, 0)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {name: importlib.import_module(f"mesosweep.commands.{name}") for name in COMMANDS}
    for module in modules.values():
        module.add_parser(sub)
    # The same flags after the command (`mesosweep run SPEC -v`), as people type them.
    for command in sub.choices.values():
        _verbosity(command, argparse.SUPPRESS)
    return parser, modules


def _verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="say more: every event and the stages' progress at each check "
                             "(the driver log always has it all)")
    parser.add_argument("-q", "--quiet", action="count", default=default,
                        help="say less: warnings and errors only (-qq: errors only)")


# Lines on the terminal: the time, then what happened; a warning or an error says so.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
LEVELS = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


class _TerminalFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s", TIME_FORMAT)
        self._grave = logging.Formatter("%(asctime)s %(levelname)s: %(message)s", TIME_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            return self._grave.format(record)
        return super().format(record)


@contextmanager
def terminal_log(verbosity: int) -> Iterator[None]:
    """While a command runs, what the ``mesosweep`` loggers say appears on its standard output
    with its time: INFO and above (``verbosity`` 0), DEBUG too (1: ``-v``), warnings (-1:
    ``-q``) or errors only (-2: ``-qq``)."""
    level = LEVELS[max(-2, min(1, verbosity))]
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_TerminalFormatter())
    handler.setLevel(level)
    logger = logging.getLogger("mesosweep")
    before = logger.level
    logger.setLevel(min(level, logger.getEffectiveLevel()))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


# Exit status of a command whose reader went away (`mesosweep status STORE | head`): that of a
# process ended by SIGPIPE, as `cat` or `yes` would have.
EXIT_BROKEN_PIPE = 128 + 13


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mesosweep`` console script."""
    parser, modules = _parser()
    args = parser.parse_args(argv)
    try:
        with terminal_log(args.verbose - args.quiet):
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
