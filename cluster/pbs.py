"""PBS through dask-jobqueue: one batch job per worker, sized for one realisation's ranks."""

from __future__ import annotations

from pathlib import Path

from mesosweep.cluster.base import Cluster
from mesosweep.cluster.batch import job_options, started
from mesosweep.cluster.local import mpi_launcher
from mesosweep.cluster.memory import memory_bytes, pbs_size


def start(*, workers: int, ranks: int, queue: str | None, account: str | None, walltime: str,
          memory: str, extra_directives: tuple[str, ...], workdir: Path, name: str,
          adaptive: bool = False, scheduler_host: str | None = None) -> Cluster:
    from dask_jobqueue import PBSCluster  # noqa: PLC0415 - only when PBS is asked for

    cluster = PBSCluster(
        queue=queue, account=account, walltime=walltime, memory=memory,
        job_name=f"mesosweep-{name}",
        # The job's chunk holds the realisation's ranks; mpiexec inside it uses PBS's hosts.
        # mem= in PBS's own units: "GiB" or a space there would be refused or split the line.
        resource_spec=(f"select=1:ncpus={ranks}:mpiprocs={ranks}:"
                       f"mem={pbs_size(memory_bytes(memory))}"),
        job_extra_directives=list(extra_directives),
        **job_options(workdir, walltime, scheduler_host),
    )
    return started(cluster, workers, mpi_launcher(ranks), "pbs", adaptive)
