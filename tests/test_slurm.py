"""A real Slurm: sweeps through dask-jobqueue's SLURMCluster, LAMMPS under ``srun`` with 2 ranks.

Start a single-node Slurm with ``cluster/slurm-local.sh --install`` (as root; see
docs/local-slurm.md). In CI (``CI=true``) these tests must not skip: a missing Slurm fails them.
"""

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import xarray as xr

from mesosweep.cli import main
from mesosweep.ensemble import store
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
                extra: str = "") -> Path:
    text = tiny_spec_text("s.zarr", ranks=2, slow=slow).replace(
        'kind = "local"\nworkers = 2',
        'kind = "slurm"\nworkers = 1\nqueue = "debug"\nwalltime = "00:20:00"\nmemory = "2GB"\n'
        f'scheduler_host = "127.0.0.1"\nadaptive = {str(adaptive).lower()}\n{extra}')
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


@pytest.mark.lammps
@pytest.mark.slow
def test_sweep_on_slurm_runs_lammps_under_srun_with_two_ranks(tmp_path, monkeypatch):
    # A hostile-looking directive: #SBATCH lines are parsed by sbatch, never by a shell (were
    # it expanded, ${IFS} would become a space and touch would create PWNED here).
    pwned = tmp_path / "PWNED"
    spec = _slurm_spec(tmp_path, extra='job_extra_directives = ["--comment=$(touch${IFS}PWNED)"]\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(spec)]) == 0
    ds = xr.open_zarr(tmp_path / "s.zarr").load()
    assert (ds.status.values == store.DONE).all()
    assert all(str(j).isdigit() for j in ds.job_id.values.ravel())  # ran inside batch jobs
    import json

    for result in (tmp_path / "s.work").glob("96-4/r*/*/result.json"):
        data = json.loads(result.read_text())
        assert data["ranks"] == 2 and data["lammps_world_size"] == 2, result
    assert not pwned.exists()
    # TLS between scheduler and workers: the job script started the worker with certificates.
    logs = "".join(p.read_text() for p in (tmp_path / "s.work" / "dask-logs").glob("*.err"))
    assert "tls://" in logs


def test_a_job_script_slurm_refuses_is_reported_before_any_job(tmp_path, monkeypatch, capsys):
    spec = _slurm_spec(tmp_path).read_text().replace('queue = "debug"',
                                                     'queue = "no-such-partition"')
    (tmp_path / "s.toml").write_text(spec)
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert "Slurm refuses the worker job script" in err and "cluster.queue" in err
    jobs = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True,
                          timeout=20, check=True).stdout
    assert "mesosweep-tiny" not in jobs


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
