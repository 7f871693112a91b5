"""What every backend gives the runner: a Dask client, the MPI launcher its workers use, links."""

from __future__ import annotations

from dataclasses import dataclass

from distributed import Client

from mesosweep.errors import ClusterError

__all__ = ["Cluster", "ClusterError"]


@dataclass
class Cluster:
    """A running Dask cluster, its client, and how a worker launches one realisation's ranks.

    ``launcher`` is the argv prefix that starts N MPI ranks on the resources of the worker's
    own batch job (or of this machine): ``mpiexec -n N`` locally, ``srun --overlap -n N`` under
    Slurm, ``mpiexec -n N`` under PBS. It is fixed by the backend, never built from strings.
    """

    client: Client
    launcher: tuple[str, ...]
    dashboard: str
    kind: str

    def close(self) -> None:
        cluster = self.client.cluster
        self.client.close()
        if cluster is not None:
            cluster.close()
