"""The embedded default: a Dask LocalCluster on this machine, MPI ranks on this machine alone.

Nothing listens beyond loopback, and nothing local is open to other users of the machine:

- scheduler, workers and client talk TLS with temporary credentials that exist only in this
  process and the workers it starts, so a client of another user (or another sweep) connecting
  to the scheduler's 127.0.0.1 port is refused;
- each realisation's MPI ranks start (unless ``cluster.launcher`` names another launcher, such
  as ``srun`` inside an allocation) under MPICH's ``gforker`` process manager, which forks them
  and talks to them through pipes (``hydra``, the default ``mpiexec``, listens on every interface
  for its ranks), and they exchange messages through shared memory only (``UCX_TLS=self,sm``:
  no UCX transport opens a TCP socket).
"""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mesosweep.stages.lammps_env import executable

if TYPE_CHECKING:
    from mesosweep.cluster.base import Cluster
    from mesosweep.stages.contract import Launcher

# MPICH's UCX transports for ranks on one machine: to itself and through shared memory.
SHARED_MEMORY_ONLY = "UCX_TLS=self,sm"


def mpi_launcher(ranks: int) -> tuple[str, ...]:
    """``env UCX_TLS=self,sm mpiexec.gforker -n N`` from the environment that holds LAMMPS'
    MPICH (``env`` sets the transports for the ranks alone, not for this process)."""
    env = shutil.which("env") or "/usr/bin/env"
    return (env, SHARED_MEMORY_ONLY, executable("mpiexec.gforker"), "-n", str(ranks))


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start the workers with SIGINT ignored (they, and the MPI ranks they launch, inherit it).

    Ctrl-C in a terminal signals the whole foreground process group: the driver alone must
    handle it (stop the workers, queue again what was in flight); workers interrupted by it
    would die mid-task, each printing its traceback.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def start(workers: int, launcher: Launcher) -> Cluster:
    """One single-threaded worker process per concurrent realisation, bound to localhost; each
    starts its realisation's ranks with ``launcher``.

    A worker only waits on its realisation's MPI ranks: they do the work, so each worker needs
    one thread, and the dashboard stays on 127.0.0.1 unless the user tunnels to it.
    """
    # Dask loads only when workers start: the launcher above is read without it.
    from distributed import Client, LocalCluster  # noqa: PLC0415
    from distributed.security import Security  # noqa: PLC0415

    from mesosweep.cluster.base import Cluster  # noqa: PLC0415 - holds a distributed.Client

    security = Security.temporary()
    with _workers_ignore_ctrl_c():
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0",
                               protocol="tls://", security=security, silence_logs=40)
    client = Client(cluster, security=security)
    return Cluster(client, launcher, client.dashboard_link, "local")
