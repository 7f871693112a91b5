"""LSF through dask-jobqueue: one batch job per worker, sized for one realisation's ranks."""

from __future__ import annotations

from pathlib import Path

from mesosweep.cluster.base import Cluster
from mesosweep.cluster.batch import job_options, started
from mesosweep.cluster.local import mpi_launcher


def start(*, workers: int, ranks: int, queue: str | None, account: str | None, walltime: str,
          memory: str, extra_directives: tuple[str, ...], workdir: Path, name: str,
          adaptive: bool = False, scheduler_host: str | None = None) -> Cluster:
    from dask_jobqueue import LSFCluster  # noqa: PLC0415 - only when LSF is asked for

    cluster = LSFCluster(
        # LSF's -n (ncpus): the job's slots belong to the MPI ranks; -W takes HH:MM.
        queue=queue, project=account, walltime=walltime[:-3], memory=memory,
        job_name=f"mesosweep-{name}", ncpus=ranks, use_stdin=True,
        job_extra_directives=list(extra_directives),
        **job_options(workdir, walltime, scheduler_host),
    )
    return started(cluster, workers, mpi_launcher(ranks), "lsf", adaptive)
