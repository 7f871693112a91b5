"""LSF through dask-jobqueue: one batch job per worker, sized for one realisation's ranks.

``-n`` (slots) holds the job's ranks; dask-jobqueue adds ``span[hosts=1]`` (one node), which is
left out when ``cluster.single_node`` is false. ``-W`` takes HH:MM. LSF has no dry run of a job
script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mesosweep.ensemble.schema import ClusterSection

NAME = "LSF"
CLUSTER = "LSFCluster"
VERDICT = None
CHECK_BEFORE_SUBMITTING = False
SUBMIT_AND_WAIT = ("bsub", "-K")
SUBMIT_FROM_STDIN = True  # bsub reads a job script from its standard input


def job_options(c: ClusterSection) -> dict[str, Any]:
    return {"queue": c.queue, "project": c.account, "walltime": c.walltime[:-3],
            "ncpus": c.ranks_per_realisation, "use_stdin": True,
            "job_directives_skip": [] if c.single_node else ["span[hosts=1]"],
            "job_extra_directives": list(c.job_extra_directives)}
