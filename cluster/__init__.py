"""How Dask gets workers (this machine, or batch jobs) and how each launches MPI ranks.

Public API:

- :data:`KINDS`: the backends, one short module each (``mesosweep.cluster.<kind>``) over the
  shared pieces in ``batch``; the spec's ``cluster.kind`` is one of them.
- :func:`start`: start the workers a spec asks for, returning a :class:`Cluster`.
- :class:`Cluster`: a running Dask cluster, its client, and its MPI launcher.
- :class:`ClusterError`: the batch system refused the workers' jobs.

Importing this package does not import Dask (spec validation reads :data:`KINDS`); a backend
and Dask load when :func:`start` runs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesosweep.errors import ClusterError

if TYPE_CHECKING:
    from mesosweep.cluster.base import Cluster
    from mesosweep.ensemble.spec import Spec

__all__ = ["KINDS", "start", "Cluster", "ClusterError"]

KINDS = ("local", "slurm", "pbs", "lsf", "sge")


def start(spec: Spec, workdir: Path) -> Cluster:
    """Start the workers the spec asks for; batch jobs write their files under ``workdir``."""
    c = spec.cluster
    backend = importlib.import_module(f"mesosweep.cluster.{c.kind}")
    if c.kind == "local":
        return backend.start(c.workers, c.ranks_per_realisation)
    return backend.start(workers=c.workers, ranks=c.ranks_per_realisation, queue=c.queue,
                         account=c.account, walltime=c.walltime, memory=c.memory,
                         extra_directives=c.job_extra_directives, workdir=workdir,
                         name=spec.sweep.name, adaptive=c.adaptive,
                         scheduler_host=c.scheduler_host)


def __getattr__(name: str) -> Any:
    # Cluster holds a distributed.Client: load Dask only when someone asks for the class.
    if name == "Cluster":
        from mesosweep.cluster.base import Cluster  # noqa: PLC0415 - imports distributed

        return Cluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
