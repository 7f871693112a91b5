"""Faults, each with the real runner: killed worker, killed driver, failing LAMMPS, 8 writers."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from mesosweep.cli import main
from mesosweep.ensemble import store
from mesosweep.ensemble.layout import LAUNCH_LOG, SweepLayout
from mesosweep.ensemble.params import realisation_params, structure_params
from mesosweep.ensemble.plan import plan
from mesosweep.ensemble.runner import prepare_database
from mesosweep.ensemble.spec import load_spec
from mesosweep.stages import initial
from mesosweep.stages.contract import file_fingerprint, write_fingerprint
from mesosweep.stages.lammps_data import CBD_TYPE, write_data
from tests.conftest import tiny_spec_text

DONE, RUNNING, FAILED = store.DONE, store.RUNNING, store.FAILED


def _spec(tmp_path: Path, *, workers: int = 2, slow: bool = False) -> Path:
    path = tmp_path / "f.toml"
    path.write_text(tiny_spec_text("f.zarr", workers=workers, slow=slow))
    return path


def _launches(workdir: Path) -> list[str]:
    log = workdir / LAUNCH_LOG
    return [ln.split()[0] for ln in log.read_text().splitlines()] if log.exists() else []


def _stage_names(launches: list[str]) -> list[str]:
    return [name[1:].rsplit(".", 2)[0] if name.startswith(".") else name for name in launches]


def _start(spec: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mesosweep.cli", "run", str(spec)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.lammps
@pytest.mark.slow
def test_worker_killed_mid_realisation_reruns_only_that_stage(tmp_path):
    spec = _spec(tmp_path, slow=True)
    proc = _start(spec, tmp_path)
    work = tmp_path / "f.work" / "96-4" / "r0000"
    try:
        _wait_for(lambda: any(work.glob(".drying.*.tmp/log.lammps")), 120, "r0000's drying")
        tmp_dir = next(work.glob(".drying.*.tmp"))
        # The Dask worker is the parent of the mpiexec that runs this stage directory.
        mpiexec = [int(p) for p in os.listdir("/proc") if p.isdigit()
                   and "mpiexec" in _cmdline(int(p)) and str(tmp_dir) in _cmdline(int(p))]
        assert mpiexec, "the drying stage's mpiexec was not found"
        worker = _ppid(mpiexec[0])
        os.kill(worker, signal.SIGKILL)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out
    ds = xr.open_zarr(tmp_path / "f.zarr").load()
    assert (ds.status.values == DONE).all()
    assert ds.attempts.values[0, 0] == 2  # the killed attempt and the rerun
    assert ds.attempts.values[0, 1] == 1
    names = _stage_names(_launches(work))
    # The slurry had finished before the kill: it is not launched again; drying is.
    assert names.count("slurry") == 1 and names.count("drying") == 2
    # No torn or duplicate record: one published directory per stage, no leftovers.
    assert not list(work.glob(".*.tmp"))
    assert sorted(d.name for d in work.iterdir() if d.is_dir()) == [
        "calendering-0.15", "calendering-0.35", "drying", "pressing-0.15", "pressing-0.35",
        "slurry", "structure"]


@pytest.mark.lammps
@pytest.mark.slow
def test_driver_killed_then_rerun_resumes_bit_identically(tmp_path):
    # Two workers: the realisations run side by side and the quicker one is done while the other
    # still runs (with one worker Dask may interleave their tasks and finish both together).
    spec = _spec(tmp_path, workers=2, slow=True)
    proc = _start(spec, tmp_path)
    path = tmp_path / "f.zarr"

    def one_done_one_running() -> bool:
        if not (path / "zarr.json").exists():
            return False
        try:
            status = zarr.open_group(str(path), mode="r")["status"][...].ravel()
        # the template is being written: a half-written store fails to open in many ways
        except Exception:  # noqa: BLE001 - any failure to read means "not yet"
            return False
        return DONE in status and RUNNING in status

    try:
        _wait_for(one_done_one_running, 480, "one realisation done while the next runs")
        # The login session dies: the driver and its local workers go together.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    before = xr.open_zarr(path).load()
    done = int(np.flatnonzero(before.status.values[0] == DONE)[0])
    interrupted = 1 - done
    work = tmp_path / "f.work" / "96-4"
    launches_done = _launches(work / f"r{done:04d}")
    finished_stages = {d.name for d in (work / f"r{interrupted:04d}").iterdir()
                       if d.is_dir() and not d.name.startswith(".")}

    mp = pytest.MonkeyPatch()
    mp.chdir(tmp_path)
    try:
        assert main(["run", str(spec)]) == 0
    finally:
        mp.undo()
    after = xr.open_zarr(path).load()
    assert (after.status.values == DONE).all()
    for name in ("porosity", "thickness", "springback", "slurry_density", "seed"):
        a = before[name].sel(realisation=done).values
        b = after[name].sel(realisation=done).values
        assert np.array_equal(a, b, equal_nan=True), name  # bit-identical
    assert _launches(work / f"r{done:04d}") == launches_done  # nothing of it was redone
    # The interrupted realisation restarts from its last finished stage: every stage that was
    # published before the kill ran exactly once.
    names = _stage_names(_launches(work / f"r{interrupted:04d}"))
    for stage in finished_stages - {"structure"}:
        assert names.count(stage) == 1, (stage, names)


@pytest.mark.lammps
@pytest.mark.slow
def test_failing_lammps_is_recorded_retried_and_the_rest_finishes(tmp_path, monkeypatch, capsys):
    spec_path = _spec(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec = load_spec(spec_path)
    real = plan(spec)[1]
    structure = real.layout.stage_dir("structure")
    database = prepare_database(spec, SweepLayout(spec.sweep.output))
    initial.build_inputs(structure_params(spec, real), database, structure)
    # Published as the finished structure stage of this very spec (its fingerprint), so the
    # sweep takes it as it is.
    params = realisation_params(spec, real, file_fingerprint(database))
    write_fingerprint(structure, params.fingerprints["structure"])
    state = initial.read_output(structure).state
    # A corrupt structure (two beads on one spot: the LJ force is singular) makes LAMMPS
    # blow up in the slurry stage of realisation 1 only.
    cbd = np.flatnonzero(state.type == CBD_TYPE)
    pos = state.position_um.copy()
    pos[cbd[1]] = pos[cbd[0]]
    write_data(state.with_(position_um=pos), real.layout.state_file("structure"))

    assert main(["run", str(spec_path)]) == 1  # the exit status says something failed
    ds = xr.open_zarr(tmp_path / "f.zarr").load()
    assert ds.status.values.tolist() == [[DONE, FAILED]]
    assert ds.attempts.values.tolist() == [[1, 2]]  # retried up to the cap
    error = str(ds.error.values[0, 1])
    # Caught by our check of the energies, or by LAMMPS itself when the coordinates go first.
    assert "stage slurry failed at step" in error
    assert "non-finite" in error or "Non-numeric atom coords" in error
    assert "last thermo: step=" in error
    tail = str(ds.log_tail.values[0, 1])
    assert "nan" in tail.lower() or "Non-numeric atom coords" in tail
    assert ds.stage_status.sel(realisation=1, stage="slurry").item() == FAILED
    assert "FAILED" in capsys.readouterr().out


def _writer(args):
    path, c, r = args
    rng = np.random.default_rng(r)
    for _ in range(5):  # rewrite repeatedly: interleaving with the other writers is likely
        store.write_realisation(Path(path), c, r, {
            "porosity": np.full(3, r / 10.0), "thickness": rng.uniform(size=3) * 0 + r,
            "host": f"writer-{r}", "attempts": r, "status": DONE})
        for stage in store.STAGES:
            store.write_stage(Path(path), c, r, stage, DONE, float(r), r * 100)
    return r


@pytest.mark.slow  # eight processes that each load xarray and zarr: about 15 s of CPU
def test_eight_writers_at_once_leave_every_value_verifiable(tmp_path, monkeypatch):
    (tmp_path / "w.toml").write_text(tiny_spec_text("w.zarr", realisations=8))
    monkeypatch.chdir(tmp_path)
    spec = load_spec(tmp_path / "w.toml")
    store.create(spec.sweep.output, spec, plan(spec), "test")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        assert sorted(pool.map(_writer, [(str(spec.sweep.output), 0, r) for r in range(8)])) \
            == list(range(8))
    ds = xr.open_zarr(spec.sweep.output).load()
    for r in range(8):
        one = ds.sel(realisation=r, case="96-4")
        assert np.all(one.porosity.values == r / 10.0) and np.all(one.thickness.values == r)
        assert str(one.host.values) == f"writer-{r}" and int(one.attempts) == r
        assert int(one.status) == DONE and (one.stage_status.values == DONE).all()
        assert np.all(one.stage_wall_time.values == r) and np.all(one.stage_steps.values == r * 100)
