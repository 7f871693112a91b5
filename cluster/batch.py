"""What the batch-system backends share: one worker per job, TLS, a localhost dashboard, the
job's prologue and lifetime; the job script a spec would submit, and the batch system's verdict
on it.

Each backend module (``slurm``, ``pbs``, ``lsf``, ``sge``) states only what differs: its
name (``NAME``), dask-jobqueue cluster class (``CLUSTER``), the keyword arguments that size and
place its job (``job_options``), the command that judges a job script without submitting it
(``VERDICT``, None where the batch system has none), whether :func:`start` asks it first
(``CHECK_BEFORE_SUBMITTING``), and how one job is submitted and waited for
(``SUBMIT_AND_WAIT``, ``SUBMIT_FROM_STDIN``: ``mesosweep doctor``'s trial). :func:`start`
starts the workers; :func:`job_script` builds the same script without starting anything, for
``run --check`` and the doctor.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mesosweep.cluster.jobscript import word_problem
from mesosweep.cluster.launch import launcher
from mesosweep.errors import ClusterError

if TYPE_CHECKING:
    from mesosweep.cluster.base import Cluster
    from mesosweep.ensemble.schema import ClusterSection
    from mesosweep.stages.contract import Launcher

__all__ = ["LIFETIME_MARGIN_S", "Verdict", "job_script", "start", "submit_and_wait", "verdict",
           "walltime_seconds", "worker_options"]

# A worker retires this long before its job's walltime, so the batch system never kills it
# in the middle of writing; its running realisation is then resumed elsewhere.
LIFETIME_MARGIN_S = 300
# What a previewed script shows where the running sweep's own values go.
SCHEDULER_PLACEHOLDER = "tls://SCHEDULER_ADDRESS:PORT"
TLS_PLACEHOLDER = ".dask-jobqueue.worker.{}.XXXXXXXX"
VERDICT_TIMEOUT_S = 60


def walltime_seconds(walltime: str) -> int:
    """'HH:MM:SS' → seconds."""
    h, m, s = (int(x) for x in re.fullmatch(r"(\d+):(\d\d):(\d\d)", walltime).groups())
    return 3600 * h + 60 * m + s


def backend(kind: str) -> ModuleType:
    """The module of batch kind ``kind`` (``mesosweep.cluster.slurm`` …)."""
    return importlib.import_module(f"mesosweep.cluster.{kind}")


def _cluster_class(kind: str) -> type:
    import dask_jobqueue  # noqa: PLC0415 - only when a batch kind is asked for

    return getattr(dask_jobqueue, backend(kind).CLUSTER)


def worker_options(c: ClusterSection, workdir: Path, name: str) -> dict[str, Any]:
    """Job options every backend's worker gets.

    One single-thread worker per job (the job's cores belong to its MPI ranks) that talks TLS,
    with its prologue before it starts, a lifetime inside the walltime, and its local and log
    directories in the sweep's work folder (shared with the jobs).
    """
    lifetime = max(walltime_seconds(c.walltime) - LIFETIME_MARGIN_S, 60)
    return {
        "cores": 1,
        "processes": 1,
        "python": sys.executable,
        "memory": c.memory,
        "job_name": f"mesosweep-{name}",
        "job_script_prologue": list(c.prologue),
        "interface": c.interface,
        "protocol": "tls://",
        "local_directory": str(workdir / "dask"),
        "log_directory": str(workdir / "dask-logs"),
        "worker_extra_args": ["--lifetime", f"{lifetime}s", "--lifetime-stagger", "60s"],
    }


def _check_paths(workdir: Path) -> None:
    """This machine's paths that the script names must be plain words, as the spec's are."""
    for what, path in (("the Python that runs the workers", sys.executable),
                       ("the sweep's work folder", str(workdir))):
        if (problem := word_problem(path)) is not None:
            raise ClusterError(f"cluster: {what}, {path!r}, goes into the workers' job script "
                               f"and {problem}; use a path without it")


def job_script(kind: str, c: ClusterSection, workdir: Path, name: str, *,
               command: str | None = None, job: str = "worker") -> str:
    """The script each worker's batch job would run, built without starting a scheduler or
    writing anything: the scheduler's address and the TLS files' names are placeholders
    (:data:`SCHEDULER_PLACEHOLDER`, :data:`TLS_PLACEHOLDER`), every other line is the one
    :func:`start` submits. ``command`` replaces the worker's (the script's last line), in a
    job named ``job`` (its log files' name)."""
    from distributed.security import Security  # noqa: PLC0415 - as _cluster_class

    _check_paths(workdir)
    tls = workdir / "dask"
    security = Security(tls_ca_file=str(tls / TLS_PLACEHOLDER.format("ca_file")),
                        tls_worker_cert=str(tls / TLS_PLACEHOLDER.format("cert")),
                        tls_worker_key=str(tls / TLS_PLACEHOLDER.format("key")))
    options = worker_options(c, workdir, name)
    logs = options["log_directory"]
    with tempfile.TemporaryDirectory() as tmp:
        # A job makes its log directory when built: a throwaway one here, named as the real
        # one in the text.
        options["log_directory"] = tmp
        made = _cluster_class(kind).job_cls(SCHEDULER_PLACEHOLDER, name=job, security=security,
                                            **options, **backend(kind).job_options(c))
        script = made.job_script().replace(tmp, logs)
    if command is None:
        return script
    # dask-jobqueue's template ends with the worker's command: the line replaced.
    head, worker = script.rstrip("\n").rsplit("\n", 1)
    if "distributed.cli.dask_worker" not in worker:
        raise RuntimeError(f"{kind} job script: its last line is not the worker's: {worker!r}")
    return f"{head}\n{command}\n"


def submit_and_wait(kind: str, script: str, path: Path,
                    timeout_s: float) -> subprocess.CompletedProcess:
    """Submit ``script`` (saved to ``path``) as one batch job and wait until it ends
    (``sbatch --wait``, ``qsub -W block=true``, ``bsub -K``, ``qsub -sync y``). Raises
    :class:`ClusterError` when the submitting command is absent, TimeoutExpired after
    ``timeout_s``."""
    argv = backend(kind).SUBMIT_AND_WAIT
    exe = shutil.which(argv[0])
    if exe is None:
        raise ClusterError(f"cluster: {argv[0]} is not on this machine's PATH; run this where "
                           f"{backend(kind).NAME} jobs are submitted")
    path.write_text(script)
    if backend(kind).SUBMIT_FROM_STDIN:
        return subprocess.run([exe, *argv[1:]], input=script, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    return subprocess.run([exe, *argv[1:], str(path)], capture_output=True, text=True,
                          timeout=timeout_s, check=False)


@dataclass(frozen=True)
class Verdict:
    """What a batch system says of a job script, without running it."""

    command: str  # the command that judged it, as typed ('' when none could)
    accepted: bool | None  # None: nothing judged it (no dry run, or its command is absent)
    message: str  # its answer on one line, or why there is none


def verdict(kind: str, script: str) -> Verdict:
    """The batch system's verdict on ``script`` (``sbatch --test-only``, ``qsub -w v``), from
    a copy in a temporary folder; nothing is submitted."""
    argv = backend(kind).VERDICT
    if argv is None:
        return Verdict("", None, f"{backend(kind).NAME} has no dry run of a job script")
    exe = shutil.which(argv[0])
    command = " ".join(argv)
    if exe is None:
        return Verdict(command, None, f"{argv[0]} is not on this machine's PATH")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job-script.sh"
        path.write_text(script)
        try:
            proc = subprocess.run([exe, *argv[1:], str(path)], capture_output=True, text=True,
                                  timeout=VERDICT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return Verdict(command, None, f"no answer within {VERDICT_TIMEOUT_S} s")
    text = " ".join((proc.stderr + " " + proc.stdout).split())
    return Verdict(command, proc.returncode == 0, text or f"exit status {proc.returncode}")


def start(kind: str, c: ClusterSection, workdir: Path, name: str) -> Cluster:
    """Start batch kind ``kind``'s workers for ``[cluster]`` ``c``; their files go under
    ``workdir``. Raises :class:`ClusterError`, before any job is submitted, when the script
    would name a path a shell would split or when the batch system refuses the script."""
    from distributed.security import Security  # noqa: PLC0415 - as _cluster_class

    _check_paths(workdir)
    (workdir / "dask").mkdir(parents=True, exist_ok=True)
    cluster = _cluster_class(kind)(
        security=Security.temporary(),
        shared_temp_directory=str(workdir / "dask"),
        scheduler_options={"dashboard_address": "127.0.0.1:0",
                           **({"host": c.scheduler_host} if c.scheduler_host else {})},
        **worker_options(c, workdir, name),
        **backend(kind).job_options(c),
    )
    if backend(kind).CHECK_BEFORE_SUBMITTING:
        try:
            refuse_rejected(kind, cluster.job_script(), workdir)
        except ClusterError:
            cluster.close()
            raise
    return started(cluster, c.workers, launcher(c), kind, c.adaptive)


def refuse_rejected(kind: str, script: str, workdir: Path) -> None:
    """Let the batch system judge the job script before any job is submitted (a copy stays in
    ``workdir/dask``): a rejected directive would otherwise surface only in dask-jobqueue's
    log while the sweep waits for workers that never come."""
    (workdir / "dask" / "job-script.sh").write_text(script)
    judged = verdict(kind, script)
    if judged.accepted is False:
        raise ClusterError(f"cluster: {backend(kind).NAME} refuses the worker job script "
                           f"({workdir / 'dask' / 'job-script.sh'}): {judged.message}; check "
                           "cluster.queue, cluster.account, cluster.memory, cluster.walltime, "
                           "cluster.job_extra_directives and cluster.single_node")


def started(cluster: Any, jobs: int, launch: Launcher, kind: str,
            adaptive: bool = False) -> Cluster:
    """Scale a jobqueue cluster to ``jobs`` workers (or adapt between 0 and ``jobs``)."""
    from distributed import Client  # noqa: PLC0415 - as _cluster_class

    from mesosweep.cluster.base import Cluster  # noqa: PLC0415 - holds a distributed.Client

    if adaptive:
        cluster.adapt(minimum_jobs=0, maximum_jobs=jobs)
    else:
        cluster.scale(jobs=jobs)
    client = Client(cluster, security=cluster.security)
    return Cluster(client, launch, client.dashboard_link, kind)
