"""SGE through dask-jobqueue: one batch job per worker, sized for one realisation's ranks.

SGE places a job's slots by its parallel environment's allocation rule, set by the site: the
common names are ``smp`` (all slots on one host: ``cluster.single_node``, the default) and
``mpi`` (spread). ``h_vmem=`` is in SGE's own units (G g M m K k: it reads neither "GB" nor
"GiB"). ``qsub -w v`` judges the script without submitting it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mesosweep.cluster.memory import memory_bytes, sge_size

if TYPE_CHECKING:
    from mesosweep.ensemble.schema import ClusterSection

NAME = "SGE"
CLUSTER = "SGECluster"
VERDICT = ("qsub", "-w", "v")
CHECK_BEFORE_SUBMITTING = False  # no SGE to test it on: --check shows the verdict
SUBMIT_AND_WAIT = ("qsub", "-sync", "y")
SUBMIT_FROM_STDIN = False


def job_options(c: ClusterSection) -> dict[str, Any]:
    environment = "smp" if c.single_node else "mpi"
    return {"queue": c.queue, "project": c.account, "walltime": c.walltime,
            "resource_spec": f"h_vmem={sge_size(memory_bytes(c.memory))}",
            "job_extra_directives": [f"-pe {environment} {c.ranks_per_realisation}",
                                     *c.job_extra_directives]}
