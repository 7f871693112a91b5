"""PBS through dask-jobqueue: one batch job per worker, sized for one realisation's ranks.

The job's ranks are one chunk (``select=1``: one node) unless ``cluster.single_node`` is false,
then one chunk of one CPU per rank that PBS may place anywhere. ``mem=`` is in PBS's own units
(``GiB`` or a space would be refused or split the line). PBS has no dry run of a job script.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mesosweep.cluster.memory import memory_bytes, pbs_size

if TYPE_CHECKING:
    from mesosweep.ensemble.schema import ClusterSection

NAME = "PBS"
CLUSTER = "PBSCluster"
VERDICT = None
CHECK_BEFORE_SUBMITTING = False
SUBMIT_AND_WAIT = ("qsub", "-W", "block=true")
SUBMIT_FROM_STDIN = False


def resource_spec(c: ClusterSection) -> str:
    """``select=…``: the chunks that hold the job's ranks, with their memory."""
    ranks, total = c.ranks_per_realisation, memory_bytes(c.memory)
    if c.single_node:
        return f"select=1:ncpus={ranks}:mpiprocs={ranks}:mem={pbs_size(total)}"
    return f"select={ranks}:ncpus=1:mpiprocs=1:mem={pbs_size(math.ceil(total / ranks))}"


def job_options(c: ClusterSection) -> dict[str, Any]:
    return {"queue": c.queue, "account": c.account, "walltime": c.walltime,
            "resource_spec": resource_spec(c),
            "job_extra_directives": list(c.job_extra_directives)}
