"""How Dask gets workers (this machine, or batch jobs) and how each launches MPI ranks.

Public API:

- :data:`KINDS`: the backends, one short module each (``mesosweep.cluster.<kind>``) over the
  shared pieces in ``batch``; the spec's ``cluster.kind`` is one of them.
- :func:`start`: start the workers a spec asks for, returning a :class:`Cluster`.
- :class:`Cluster`: a running Dask cluster, its client, and its MPI launcher
  (:mod:`~mesosweep.cluster.launch`, from ``[cluster]``).
- :class:`ClusterError`: the batch system refused the workers' jobs.

Importing this package does not import Dask (spec validation reads :data:`KINDS`); a backend
and Dask load when :func:`start` runs.
"""

from __future__ import annotations

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
    if c.kind == "local":
        from mesosweep.cluster import local  # noqa: PLC0415 - Dask loads with the workers
        from mesosweep.cluster.launch import launcher  # noqa: PLC0415 - as the backends

        return local.start(c.workers, launcher(c))
    from mesosweep.cluster import batch  # noqa: PLC0415 - dask-jobqueue loads with the jobs

    return batch.start(c.kind, c, workdir, spec.sweep.name)


def __getattr__(name: str) -> Any:
    # Cluster holds a distributed.Client: load Dask only when someone asks for the class.
    if name == "Cluster":
        from mesosweep.cluster.base import Cluster  # noqa: PLC0415 - imports distributed

        return Cluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
