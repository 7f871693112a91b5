"""The embedded default: a Dask LocalCluster on this machine, MPI ranks through ``mpiexec``."""

from __future__ import annotations

from distributed import Client, LocalCluster

from mesosweep.cluster.base import Cluster
from mesosweep.stages.lammps_env import executable


def mpi_launcher(ranks: int) -> tuple[str, ...]:
    """``mpiexec -n N`` from the environment that holds LAMMPS' MPICH."""
    return (executable("mpiexec"), "-n", str(ranks))


def start(workers: int, ranks_per_realisation: int) -> Cluster:
    """One single-threaded worker process per concurrent realisation, bound to localhost.

    A worker only waits on its realisation's ``mpiexec``: the MPI ranks do the work, so each
    worker needs one thread, and the dashboard stays on 127.0.0.1 unless the user tunnels to it.
    """
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address="127.0.0.1:0",
                           silence_logs=40)
    client = Client(cluster)
    return Cluster(client, mpi_launcher(ranks_per_realisation), client.dashboard_link, "local")
