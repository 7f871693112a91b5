"""The ``lammps`` mark is checked, not trusted: a test without it that runs LAMMPS fails.

Two nets, both looking at what a test did rather than at a list of our entry points (which
would go stale as code moves):

- in this process, an audit hook sees every program started (``subprocess.Popen``): ``lmp``,
  ``mpiexec`` or ``mpirun``, the stage runner module, or a ``python -c`` that imports lammps;
  loading the ``lammps`` module into this process counts too;
- in other processes (a sweep's Dask workers, a ``mesosweep run`` child, a Slurm job), a stage
  leaves a ``log.lammps`` in its folder under the session's temporary root: a new or rewritten
  one counts.

An unmarked test that did either while it was set up or run fails. Not caught: a child of
another process that runs LAMMPS with ``-log none``, or in a folder it removes.

Registered by tests/conftest.py; tests/test_markers.py checks the check.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from mesosweep.stages.contract import RUNNER_MODULE
from mesosweep.stages.protocol import LOG_FILE

_PROGRAMS = {"lmp", "mpiexec", "mpirun"}
_IMPORTS_LAMMPS = re.compile(r"\bimport\b[^\n;]*\blammps\b")

_ROOT = pytest.StashKey[Path]()  # the session's temporary root (config stash)
_LAST = pytest.StashKey[dict[str, int]]()  # the logs the last check saw (config stash)
_BEFORE = pytest.StashKey[dict[str, int]]()  # LAMMPS logs before the test (item stash)
_HAD_MODULE = pytest.StashKey[bool]()  # was `lammps` imported before the test (item stash)

_started: list[str] = []  # LAMMPS launches by this process since the current test began


def _audit(event: str, args: tuple) -> None:
    """Note a program this process starts if it runs LAMMPS (never raises: the launch goes on)."""
    if event != "subprocess.Popen":
        return
    argv = args[1]
    argv = [str(argv)] if isinstance(argv, (str, bytes, os.PathLike)) else [str(a) for a in argv]
    if not argv:
        return
    if (os.path.basename(argv[0]) in _PROGRAMS or RUNNER_MODULE in argv
            or any(_IMPORTS_LAMMPS.search(a) for a in argv)):
        _started.append(" ".join(argv)[:160])


sys.addaudithook(_audit)


def lammps_logs(root: Path | None) -> dict[str, int]:
    """Every LAMMPS log under ``root``: path -> modification time (ns)."""
    found: dict[str, int] = {}
    if root is None:
        return found
    for folder, dirs, files in os.walk(root):
        # zarr stores hold many chunk files and never a log
        dirs[:] = [d for d in dirs if not d.endswith(".zarr")]
        if LOG_FILE in files:
            path = os.path.join(folder, LOG_FILE)
            try:
                found[path] = os.stat(path).st_mtime_ns
            except OSError:  # removed meanwhile
                pass
    return found


@pytest.fixture(scope="session", autouse=True)
def _lammps_guard_root(request: pytest.FixtureRequest,
                       tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tell the hooks where this session's temporary folders are."""
    request.config.stash[_ROOT] = tmp_path_factory.getbasetemp()


def _unmarked(item: pytest.Item) -> bool:
    return item.get_closest_marker("lammps") is None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of the test is set up: what is there already."""
    _started.clear()
    if not _unmarked(item):
        # a marked test may add logs: the next unmarked one looks again
        if _LAST in item.config.stash:
            del item.config.stash[_LAST]
        return
    last = item.config.stash.get(_LAST, None)
    item.stash[_BEFORE] = (last if last is not None
                           else lammps_logs(item.config.stash.get(_ROOT, None)))
    item.stash[_HAD_MODULE] = "lammps" in sys.modules


def _evidence(item: pytest.Item) -> str:
    """What the test did that runs LAMMPS ('' if nothing)."""
    after = lammps_logs(item.config.stash.get(_ROOT, None))
    item.config.stash[_LAST] = after
    before = item.stash[_BEFORE]
    logs = sorted(p for p, mtime in after.items() if before.get(p) != mtime)
    if _started:
        return f"it started {_started[0]}"
    if "lammps" in sys.modules and not item.stash[_HAD_MODULE]:
        return "it loaded the lammps module"
    if logs:
        return f"LAMMPS wrote {logs[0]}" + (f" and {len(logs) - 1} more" if len(logs) > 1 else "")
    return ""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """After an unmarked test's call: fail it if it ran LAMMPS."""
    report = yield
    if call.when != "call" or not _unmarked(item) or _BEFORE not in item.stash:
        return report
    what = _evidence(item)
    if what:
        text = (f"{item.nodeid} runs LAMMPS but has no `lammps` mark ({what}); add "
                "pytest.mark.lammps (and slow if it takes over ~10 s) so that "
                '-m "not lammps" leaves it out')
        if report.passed:
            report.outcome = "failed"
            report.longrepr = text
        else:
            report.sections.append(("lammps mark", text))
    return report
