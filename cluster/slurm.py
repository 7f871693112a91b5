"""Slurm through dask-jobqueue: one batch job per worker, sized for one realisation's ranks.

The job holds ``ranks_per_realisation`` tasks of one CPU each (dask-jobqueue's own ``-n 1`` and
``--cpus-per-task`` are replaced), on one node unless ``cluster.single_node`` is false; its
ranks start as job steps inside it (:mod:`mesosweep.cluster.launch`). ``sbatch --test-only``
judges the script before any job is submitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mesosweep.ensemble.schema import ClusterSection

NAME = "Slurm"
CLUSTER = "SLURMCluster"
VERDICT = ("sbatch", "--test-only")
CHECK_BEFORE_SUBMITTING = True  # tested on a real Slurm (tests/test_slurm.py)
SUBMIT_AND_WAIT = ("sbatch", "--wait")
SUBMIT_FROM_STDIN = False


def job_directives(c: ClusterSection) -> list[str]:
    """The job's size and placement, then the spec's own directives."""
    nodes = ["--nodes=1"] if c.single_node else []
    return [*nodes, f"--ntasks={c.ranks_per_realisation}", "--cpus-per-task=1",
            *c.job_extra_directives]


def job_options(c: ClusterSection) -> dict[str, Any]:
    return {"queue": c.queue, "account": c.account, "walltime": c.walltime,
            "job_directives_skip": ["-n 1", "--cpus-per-task"],
            "job_extra_directives": job_directives(c)}
