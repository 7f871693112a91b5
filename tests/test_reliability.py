"""Nothing stale, nothing silently different: stage fingerprints, resumes, caps (issue 17)."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mesosweep.cli import main
from mesosweep.ensemble.layout import LAUNCH_LOG
from mesosweep.stages.forcefield import shipped_forcefield
from tests.conftest import TINY_SPEC

pytestmark = [pytest.mark.lammps, pytest.mark.slow]


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
    text = TINY_SPEC.format(output="tiny.zarr", ranks=1).replace("realisations = 2",
                                                                   "realisations = 1")
    spec.write_text(text.replace("[numerics]", '[numerics]\nforcefield_dried = "dried.toml"'))
    assert _run(tmp_path, spec) == 0
    work = tmp_path / "tiny.work" / "96-4" / "r0000"
    first = _launched(work)
    calendering = ["calendering-0.1500", "calendering-0.3500", "pressing-0.1500",
                   "pressing-0.3500"]  # the releases and later pressings run side by side
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
    import io

    from mesosweep.ensemble.layout import SweepLayout
    from mesosweep.ensemble.runner import prepare_database
    from mesosweep.ensemble.spec import load_spec

    paths = []
    for count in (16, 17):
        spec = tmp_path / "tiny.toml"
        spec.write_text(TINY_SPEC.format(output="tiny.zarr", ranks=1).replace(
            "count = 16", f"count = {count}"))
        mp = pytest.MonkeyPatch()
        mp.chdir(tmp_path)
        try:
            s = load_spec(spec)
            paths.append(prepare_database(s, SweepLayout(s.sweep.output), io.StringIO()))
            # Asked again, the same spec finds its own database and builds nothing.
            assert prepare_database(s, SweepLayout(s.sweep.output), io.StringIO()) == paths[-1]
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

    Protocol("pair-test", (Commands((*JKR_PAIR, "run 400000")),), atoms=2).write(tmp_path)
    proc = subprocess.Popen([*mpi_launcher(2), sys.executable, "-P", "-m", RUNNER_MODULE,
                             str(tmp_path)], env=child_environment(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(4)  # MPI is initialised and the ranks are stepping
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
