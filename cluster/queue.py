"""The user's batch jobs in flight, from the batch system's queue (``squeue`` under Slurm).

Asked by whoever shows them (``mesosweep status``), never by the store's status
(:mod:`ensemble.status` is a function of the store alone). A query never raises: the status of
a sweep must not depend on the batch system answering.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence

SQUEUE_FORMAT = "%i|%T|%j|%M|%R"  # job id, state, name, time used, reason or node list
SQUEUE_TIMEOUT_S = 10.0
_USER = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]{0,63}")  # a POSIX-ish login name, no options


def squeue_argv(environ: dict[str, str] | None = None) -> list[str] | None:
    """The fixed argv that lists this user's batch jobs, or None when squeue is absent.

    The user comes from ``$USER``/``$LOGNAME`` only if it looks like a login name (so it can
    never be read as an option); otherwise ``--me`` lets Slurm work it out.
    """
    exe = shutil.which("squeue")
    if exe is None:
        return None
    env = os.environ if environ is None else environ
    user = env.get("USER") or env.get("LOGNAME") or ""
    who = ["--user", user] if _USER.fullmatch(user) else ["--me"]
    return [exe, "--noheader", f"--format={SQUEUE_FORMAT}", *who]


def slurm_jobs(run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
               argv: Sequence[str] | None = None) -> list[dict[str, str]] | None:
    """The user's batch jobs in flight, from ``squeue``; None when squeue is absent or fails.

    Never raises: the status of a sweep must not depend on the batch system answering.
    """
    argv = list(argv) if argv is not None else squeue_argv()
    if argv is None:
        return None
    try:
        done = run(argv, capture_output=True, text=True, timeout=SQUEUE_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    jobs = []
    for line in done.stdout.splitlines():
        parts = line.strip().split("|", 4)
        if len(parts) == 5:
            jobs.append(dict(zip(("job_id", "state", "name", "time", "reason"), parts,
                                 strict=True)))
    return jobs


def render_slurm(jobs: list[dict[str, str]], limit: int = 8) -> str:
    """Batch jobs in flight: counts by state, then the first few."""
    if not jobs:
        return "slurm: no batch jobs in flight"
    by_state: dict[str, int] = {}
    for j in jobs:
        by_state[j["state"]] = by_state.get(j["state"], 0) + 1
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(by_state.items()))
    lines = [f"slurm: {len(jobs)} batch job(s) in flight: {counts}"]
    for j in jobs[:limit]:
        lines.append(f"  {j['job_id']:<12}{j['state']:<11}{j['time']:>11}  {j['name']}  "
                     f"{j['reason']}")
    if len(jobs) > limit:
        lines.append(f"  … and {len(jobs) - limit} more")
    return "\n".join(lines)
