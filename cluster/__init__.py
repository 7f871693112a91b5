"""How Dask gets workers (local, Slurm, PBS) and how each launches MPI ranks.

``start(spec, workdir)`` picks the backend named by the spec's ``cluster.kind``; each backend is
one short module (``local``, ``slurm``, ``pbs``) over the shared pieces in ``batch``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from mesosweep.cluster.base import Cluster

BACKENDS = ("local", "slurm", "pbs", "lsf", "sge")


def start(spec, workdir: Path) -> Cluster:
    """Start the workers the spec asks for."""
    c = spec.cluster
    backend = importlib.import_module(f"mesosweep.cluster.{c.kind}")
    if c.kind == "local":
        return backend.start(c.workers, c.ranks_per_realisation)
    return backend.start(workers=c.workers, ranks=c.ranks_per_realisation, queue=c.queue,
                         account=c.account, walltime=c.walltime, memory=c.memory,
                         extra_directives=c.job_extra_directives, workdir=workdir,
                         name=spec.sweep.name, adaptive=c.adaptive,
                         scheduler_host=c.scheduler_host)
