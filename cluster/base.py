"""What every backend gives the runner: a Dask client, the MPI launcher its workers use, links."""

from __future__ import annotations

from dataclasses import dataclass

from distributed import Client

from mesosweep.errors import ClusterError
from mesosweep.stages.contract import Launcher

__all__ = ["Cluster", "ClusterError"]


@dataclass
class Cluster:
    """A running Dask cluster, its client, and how a worker launches one realisation's ranks.

    ``launcher`` is the argv prefix that starts N MPI ranks on the resources of the worker's
    own batch job (or of this machine), with the LAMMPS they run: by default MPICH's
    ``mpiexec -n N`` locally and under PBS, LSF and SGE, ``srun --overlap -n N`` under Slurm
    (:mod:`mesosweep.cluster.launch`). It is built from the spec's validated ``[cluster]``
    fields when the cluster starts, never from other strings.
    """

    client: Client
    launcher: Launcher
    dashboard: str
    kind: str

    def close(self) -> None:
        cluster = self.client.cluster
        self.client.close()
        if cluster is not None:
            cluster.close()
