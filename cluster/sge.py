"""SGE through dask-jobqueue: one batch job per worker, sized for one realisation's ranks."""

from __future__ import annotations

from pathlib import Path

from mesosweep.cluster.base import Cluster
from mesosweep.cluster.batch import job_options, started
from mesosweep.cluster.local import mpi_launcher
from mesosweep.cluster.memory import memory_bytes, sge_size


def start(*, workers: int, ranks: int, queue: str | None, account: str | None, walltime: str,
          memory: str, extra_directives: tuple[str, ...], workdir: Path, name: str,
          adaptive: bool = False, scheduler_host: str | None = None) -> Cluster:
    from dask_jobqueue import SGECluster  # noqa: PLC0415 - only when SGE is asked for

    cluster = SGECluster(
        queue=queue, project=account, walltime=walltime, memory=memory,
        job_name=f"mesosweep-{name}",
        # The parallel environment "mpi" is the common name; sites that differ add their own
        # "-pe NAME N" through job_extra_directives.
        # h_vmem= in SGE's own units (G g M m K k): it reads neither "GB" nor "GiB".
        resource_spec=f"h_vmem={sge_size(memory_bytes(memory))}",
        job_extra_directives=[f"-pe mpi {ranks}", *extra_directives],
        **job_options(workdir, walltime, scheduler_host),
    )
    return started(cluster, workers, mpi_launcher(ranks), "sge", adaptive)
