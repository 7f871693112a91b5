"""Slurm through dask-jobqueue: one batch job per worker, sized for one realisation's ranks."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mesosweep.cluster.base import Cluster, ClusterError
from mesosweep.cluster.batch import job_options, started


def mpi_launcher(ranks: int) -> tuple[str, ...]:
    """A job step inside the worker's own allocation.

    ``--overlap`` lets the step share the job's CPUs with the worker's own step (newer Slurm
    hangs otherwise); ``--mpi=pmi2`` is how the wheel's MPICH forms one world under srun.
    """
    return ("srun", "--overlap", "-n", str(ranks), "--mpi=pmi2")


def job_directives(ranks: int, extra: tuple[str, ...]) -> list[str]:
    """The job holds ``ranks`` tasks of one CPU each (dask-jobqueue's ``-n 1`` is replaced)."""
    return [f"--ntasks={ranks}", "--cpus-per-task=1", *extra]


def start(*, workers: int, ranks: int, queue: str | None, account: str | None, walltime: str,
          memory: str, extra_directives: tuple[str, ...], workdir: Path, name: str,
          adaptive: bool = False, scheduler_host: str | None = None) -> Cluster:
    from dask_jobqueue import SLURMCluster  # noqa: PLC0415 - only when Slurm is asked for

    cluster = SLURMCluster(
        queue=queue, account=account, walltime=walltime, memory=memory,
        job_name=f"mesosweep-{name}",
        job_directives_skip=["-n 1", "--cpus-per-task"],
        job_extra_directives=job_directives(ranks, extra_directives),
        **job_options(workdir, walltime, scheduler_host),
    )
    try:
        check_job_script(cluster.job_script(), workdir)
    except ClusterError:
        cluster.close()
        raise
    return started(cluster, workers, mpi_launcher(ranks), "slurm", adaptive)


def check_job_script(script: str, workdir: Path) -> None:
    """Let ``sbatch --test-only`` judge the job script before any job is submitted.

    A rejected directive would otherwise surface only in dask-jobqueue's log while the sweep
    waits for workers that never come.
    """
    path = workdir / "dask" / "job-script.sh"
    path.write_text(script)
    proc = subprocess.run(["sbatch", "--test-only", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)
    if proc.returncode != 0:
        reason = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
        raise ClusterError(f"cluster: Slurm refuses the worker job script ({path}): {reason}; "
                           "check cluster.queue, cluster.account, cluster.memory, "
                           "cluster.walltime and cluster.job_extra_directives")
