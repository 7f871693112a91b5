"""What the batch-system backends share: TLS, localhost dashboard, one worker per job, lifetime."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from distributed import Client
from distributed.security import Security

from mesosweep.cluster.base import Cluster

# A worker retires this long before its job's walltime, so the batch system never kills it
# in the middle of writing; its running realisation is then resumed elsewhere.
LIFETIME_MARGIN_S = 300


def walltime_seconds(walltime: str) -> int:
    """'HH:MM:SS' → seconds."""
    h, m, s = (int(x) for x in re.fullmatch(r"(\d+):(\d\d):(\d\d)", walltime).groups())
    return 3600 * h + 60 * m + s


def job_options(workdir: Path, walltime: str, scheduler_host: str | None) -> dict:
    """Options every dask-jobqueue cluster of ours gets.

    TLS between scheduler and workers with temporary certificates written to the sweep's work
    directory (shared with the jobs); the scheduler's dashboard on 127.0.0.1; one single-thread
    worker per job (the job's cores belong to its MPI ranks); a lifetime inside the walltime.
    """
    lifetime = max(walltime_seconds(walltime) - LIFETIME_MARGIN_S, 60)
    (workdir / "dask").mkdir(parents=True, exist_ok=True)
    return {
        "cores": 1,
        "processes": 1,
        "python": sys.executable,
        "protocol": "tls://",
        "security": Security.temporary(),
        "shared_temp_directory": str(workdir / "dask"),
        "scheduler_options": {"dashboard_address": "127.0.0.1:0",
                              **({"host": scheduler_host} if scheduler_host else {})},
        "local_directory": str(workdir / "dask"),
        "log_directory": str(workdir / "dask-logs"),
        "worker_extra_args": ["--lifetime", f"{lifetime}s", "--lifetime-stagger", "60s"],
    }


def started(cluster, jobs: int, launcher: tuple[str, ...], kind: str,
            adaptive: bool = False) -> Cluster:
    """Scale a jobqueue cluster to ``jobs`` workers (or adapt between 0 and ``jobs``)."""
    if adaptive:
        cluster.adapt(minimum_jobs=0, maximum_jobs=jobs)
    else:
        cluster.scale(jobs=jobs)
    client = Client(cluster, security=cluster.security)
    return Cluster(client, launcher, client.dashboard_link, kind)
