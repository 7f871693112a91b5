"""``ensemble.status``, ``cluster.queue`` and ``mesosweep status`` on a hand-made store (no
LAMMPS, no Dask).

The store is written with the same functions the workers use (``store.create``,
``write_realisation``, ``write_stage``), in a state a real sweep passes through: some
realisations done, one running, one failed with a log tail, some queued.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from mesosweep.cli import main
from mesosweep.cluster import queue
from mesosweep.commands import status as status_cmd
from mesosweep.ensemble import lease, observe, store
from mesosweep.ensemble import status as st
from mesosweep.ensemble.layout import SweepLayout
from mesosweep.ensemble.plan import plan
from mesosweep.ensemble.spec import parse_spec

T = 1_800_000_000.0  # "now" of the hand-made store (epoch seconds, 2027-01-15)
ERROR = "StageError: slurry: LAMMPS exited with code 1\nTraceback (most recent call last): ..."
LOG_TAIL = ("Step Temp E_pair\n  4000 0 -12.5\nERROR: Lost atoms: original 1200 current 1180\n"
            "<script>alert('not html')</script>")


def handmade_store(directory: Path, now: float = T, driver: bool = True) -> Path:
    """A two-case store: 96-4 has 2 done, 1 running (drying), 1 queued; 90-10 has 1 failed in
    the slurry after 2 attempts, 1 done, 2 queued. ``driver``: a live driver (this process)
    holds the store's lease, as while a sweep runs."""
    import tests.conftest as conf

    data = tomllib.loads(conf.TINY_SPEC.format(output=str(directory / "hand.zarr"), ranks=1))
    data["sweep"]["realisations"] = 4
    data["formulations"].append({**data["formulations"][0], "name": "90-10",
                                 "am_mass_percent": 90.0, "cbd_mass_percent": 10.0})
    spec = parse_spec(data, base_dir=directory)
    path = spec.sweep.output
    store.create(path, spec, plan(spec), "20250722")

    def finished_ok(c: int, r: int, start: float, end: float) -> None:
        for k, stage in enumerate(store.STAGES):
            store.write_stage(path, c, r, stage, store.DONE, 10.0 * (k + 1), 1000 * k)
        store.write_realisation(path, c, r, {
            "attempts": 1, "started_at": start, "finished_at": end, "wall_time": end - start,
            "host": "node01", "job_id": "", "status": store.DONE})

    finished_ok(0, 0, now - 3600, now - 3000)
    finished_ok(0, 1, now - 3500, now - 2800)
    finished_ok(1, 1, now - 2000, now - 1200)
    # 96-4/r0002: running in the drying stage for 10 minutes.
    store.write_stage(path, 0, 2, "structure", store.DONE, 1.0)
    store.write_stage(path, 0, 2, "slurry", store.DONE, 200.0, 8000)
    store.write_stage(path, 0, 2, "drying", store.RUNNING)
    store.write_realisation(path, 0, 2, {"attempts": 1, "started_at": now - 600,
                                         "host": "node02", "job_id": "4711",
                                         "status": store.RUNNING})
    # 90-10/r0000: failed in the slurry, second attempt.
    store.write_stage(path, 1, 0, "structure", store.DONE, 1.0)
    store.write_stage(path, 1, 0, "slurry", store.FAILED)
    store.write_realisation(path, 1, 0, {
        "attempts": 2, "started_at": now - 1500, "finished_at": now - 1000, "wall_time": 500.0,
        "host": "node03", "job_id": "4712", "error": store.clip_error(ERROR),
        "log_tail": LOG_TAIL, "status": store.FAILED})
    if driver:
        lease.acquire(SweepLayout(path).lease, path)
    return path


@pytest.fixture
def hand(tmp_path: Path) -> Path:
    return handmade_store(tmp_path)


def test_counts_per_case_and_stage(hand):
    s = st.read_summary(hand, now=T)
    assert s["totals"] == {"queued": 3, "running": 1, "done": 3, "failed": 1, "total": 8}
    assert s["complete"] is False
    assert s["sweep"] == "tiny" and s["store"] == str(hand)
    by_case = {c["case"]: c for c in s["cases"]}
    assert list(by_case) == ["96-4", "90-10"]
    a, b = by_case["96-4"], by_case["90-10"]
    assert a["realisations"] == {"queued": 1, "running": 1, "done": 2, "failed": 0}
    assert b["realisations"] == {"queued": 2, "running": 0, "done": 1, "failed": 1}
    assert a["stages"]["drying"] == {"queued": 1, "running": 1, "done": 2, "failed": 0,
                                     "mean_wall_s": 30.0}
    assert a["stages"]["slurry"]["done"] == 3
    assert b["stages"]["slurry"] == {"queued": 2, "running": 0, "done": 1, "failed": 1,
                                     "mean_wall_s": 20.0}
    assert b["stages"]["structure"]["done"] == 2
    for case in s["cases"]:  # every realisation is counted exactly once in every row
        assert sum(case["realisations"].values()) == case["total"] == 4
        for counts in case["stages"].values():
            assert sum(counts[k] for k in st.STATES) == 4
    assert a["mean_wall_s"] == pytest.approx(650.0)  # (600 + 700) / 2


def test_throughput_eta_running_failures_timeline(hand):
    s = st.read_summary(hand, now=T)
    # 3 done, from the earliest start (T-3600) to the latest finish (T-1200): 2400 s.
    assert s["throughput_per_hour"] == pytest.approx(4.5)
    assert s["throughput_window"] == 3
    # 4 still to go (3 queued + 1 running) at 4.5 per hour.
    assert s["eta_s"] == pytest.approx(3200.0)
    assert s["eta_at"] == st.iso(T + 3200.0)
    [run] = s["running"]
    assert run["label"] == "96-4/r0002" and run["stage"] == "drying"
    assert run["elapsed_s"] == pytest.approx(600.0) and run["stages_done"] == 2
    assert run["host"] == "node02" and run["job_id"] == "4711"
    [fail] = s["failures"]
    assert fail["label"] == "90-10/r0000" and fail["stage"] == "slurry"
    assert fail["attempts"] == 2
    assert fail["error"] == "StageError: slurry: LAMMPS exited with code 1"  # first line only
    assert fail["log_tail"] == LOG_TAIL
    # In the order they finished.
    assert [e["label"] for e in s["timeline"]] == ["96-4/r0000", "96-4/r0001", "90-10/r0001",
                                                   "90-10/r0000"]
    assert [e["status"] for e in s["timeline"]] == ["done", "done", "done", "failed"]
    assert s["timeline"][0]["start"] == pytest.approx(T - 3600)


def test_throughput_uses_the_latest_finishes_only():
    import numpy as np

    # A resumed sweep: two realisations done a week ago, then four in the last hour.
    week = 7 * 86400.0
    started = np.array([0.0, 0.0, week, week, week + 1800, week + 1800])
    finished = started + 1800.0
    rate, n = st.throughput(started, finished, window=4)
    assert n == 4 and rate == pytest.approx(4.0)  # 4 in one hour, the week's gap ignored
    assert st.throughput(np.array([np.nan]), np.array([np.nan])) == (None, 0)


def test_fresh_store_is_all_queued_with_unknown_eta(tmp_path):
    path = handmade_store(tmp_path)
    ds = st.load(path)
    ds["status"][:] = store.QUEUED
    ds["stage_status"][:] = store.QUEUED
    s = st.summarise(ds, now=T)
    assert s["totals"]["queued"] == 8 and s["eta_s"] is None and s["throughput_per_hour"] is None
    assert "ETA unknown" in st.render_text(s)


def test_text_fits_one_screen_and_names_everything(hand):
    text = st.render_text(st.read_summary(hand, now=T))
    lines = text.splitlines()
    # One screen; only the first line (it holds the store's path) may be wider than 100.
    assert len(lines) <= 40 and max(map(len, lines[1:])) <= 100
    assert "realisations 8: 3 queued, 1 running, 3 done, 1 failed" in text
    assert "4.5 realisations/h" in text and "ETA 53 min 20 s" in text
    assert "96-4/r0002 in drying for 10 min 00 s" in text
    assert "90-10/r0000 in slurry after 2 attempt(s): StageError: slurry: LAMMPS exited" in text
    assert "Traceback" not in text  # only the first line of the error
    row = next(line for line in lines if line.split()[:1] == ["drying"])
    assert row.split()[:5] == ["drying", "1", "1", "2", "0"]


def test_cli_json_matches_the_library(hand, capsys):
    assert main(["status", str(hand), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = observe.read_status(hand)
    for key in ("totals", "cases", "failed_total", "timeline_total", "throughput_per_hour",
                "driver_gone"):
        assert out[key] == ref[key]
    assert out["failures"][0]["log_tail"] == LOG_TAIL
    # The store's counts, and no stale one while the driver lives.
    store_only = st.read_summary(hand)
    assert {k: v for k, v in out["totals"].items() if k != "stale"} == store_only["totals"]
    assert out["totals"]["stale"] == 0 and out["driver"]["alive"] is True


def test_cli_json_runs_as_a_separate_command(hand):
    out = subprocess.run([sys.executable, "-m", "mesosweep.cli", "status", str(hand), "--json"],
                         capture_output=True, text=True, check=True, timeout=120)
    data = json.loads(out.stdout)
    assert data["totals"]["failed"] == 1 and data["complete"] is False


def test_cli_text_and_bad_store(hand, tmp_path, capsys):
    assert main(["status", str(hand)]) == 0
    text = capsys.readouterr().out
    assert "realisations 8:" in text and f"pid {os.getpid()}" in text and "(running)" in text
    assert main(["status", str(tmp_path / "nothing.zarr")]) == 2
    assert "is not a mesosweep store" in capsys.readouterr().err


def test_a_spec_names_its_store(hand, tmp_path, capsys):
    """status (and report, export) take the spec as well as the store it writes."""
    import tests.conftest as conf

    spec = tmp_path / "hand.toml"
    spec.write_text(conf.TINY_SPEC.format(output=str(hand), ranks=1))
    assert main(["status", str(spec), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["store"] == str(hand)
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep]\nname = 3\n")
    assert main(["status", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "read as a sweep spec" in err and "sweep" in err
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text(conf.TINY_SPEC.format(output=str(tmp_path / "none.zarr"), ranks=1))
    assert main(["status", str(elsewhere)]) == 2
    assert f"sweep.output of {elsewhere}" in capsys.readouterr().err


def test_the_store_argument_follows_watch_and_serve_flags(hand, capsys):
    """`status --watch STORE` reads STORE: the flags take no optional value before it."""
    for r in (2, 3):
        for c in (0, 1):
            store.write_realisation(hand, c, r, {"status": store.DONE})
    assert main(["status", "--watch", str(hand)]) == 0
    assert "finished: nothing queued or running" in capsys.readouterr().out
    assert main(["status", "--watch", "-n", "1", str(hand), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["complete"] is True


def test_a_gone_driver_leaves_its_realisations_stale_not_running(tmp_path, capsys):
    path = handmade_store(tmp_path, now=time.time(), driver=False)
    sweep = SweepLayout(path)
    # A driver that died without giving its lease back: a pid that no longer runs.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    lease.acquire(sweep.lease, path)
    held = json.loads(sweep.lease.read_text())
    held.update(pid=int(dead.stdout), process_started=0.0, heartbeat=T - 42.0)
    sweep.lease.write_text(json.dumps(held))
    assert main(["status", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["driver_gone"] is True and out["driver_gone_since"] == st.iso(T - 42.0)
    assert out["totals"]["running"] == 0 and out["totals"]["stale"] == 1
    assert out["running"] == [] and out["stale"][0]["label"] == "96-4/r0002"
    assert out["cases"][0]["realisations"]["stale"] == 1
    assert out["cases"][0]["stages"]["drying"] == {**out["cases"][0]["stages"]["drying"],
                                                  "running": 0, "stale": 1}
    assert out["complete"] is False and out["eta_s"] is None
    assert main(["status", str(path)]) == 0
    text = capsys.readouterr().out
    assert "driver gone since 2027-01-15 07:59:18 UTC: 1 realisation(s) it had in flight" in text
    assert "stale (1):\n  96-4/r0002 in drying" in text and "ETA unknown: the driver" in text
    assert "running (" not in text
    # No lease at all while the store says running: gone too, last seen in the driver log.
    sweep.lease.unlink()
    sweep.driver_log.write_text("the last words\n")
    os.utime(sweep.driver_log, (T - 7.0, T - 7.0))
    gone = observe.read_status(path)
    assert gone["driver_gone_since"] == st.iso(T - 7.0) and gone["totals"]["stale"] == 1
    # --watch does not wait for a sweep nothing moves: it stops once idle.
    assert main(["status", str(path), "--watch", "-n", "0.5"]) == 0


def test_running_stages_show_their_progress(capsys):
    """The drying of 96-4/r0002 runs in its attempt folder: status shows its steps against
    the cap, the quantity its loop watches and the time left."""
    import tempfile


    # Outside pytest's folders: the LAMMPS guard would take the stand-in log for a real one.
    with tempfile.TemporaryDirectory(prefix="mesosweep-status-") as tmp:
        _show_progress(handmade_store(Path(tmp), now=time.time()), capsys)


def _show_progress(hand: Path, capsys) -> None:
    from tests.test_events import running_stage

    real = SweepLayout(hand).realisation("96-4", 2)
    attempt = real.attempt_dir(real.stage_dir("drying"))
    running_stage(attempt, steps=2500, checks=[7.2, 7.25])
    out = observe.read_status(hand)
    (entry,) = out["running"]
    (p,) = entry["stages_in_flight"]
    assert p["stage"] == "drying" and (p["steps"], p["max_steps"]) == (2500, 8000)
    assert p["quantity"] == "density" and p["value"] == 7.25
    assert main(["status", str(hand)]) == 0
    text = capsys.readouterr().out
    assert "    drying: 2500/8000 steps · density 7.25 g/cm^3, change 0.69%" in text


def test_watch_stops_at_once_when_the_sweep_is_already_idle(hand, capsys):
    # Make every realisation done or failed: nothing to watch.
    for r in (2, 3):
        store.write_realisation(hand, 0, r, {"status": store.DONE})
    for r in (2, 3):
        store.write_realisation(hand, 1, r, {"status": store.DONE})
    assert main(["status", str(hand), "--watch", "-n", "1"]) == 0
    assert "finished: nothing queued or running" in capsys.readouterr().out


def test_watch_follows_progress_and_stops_once_idle(hand, monkeypatch):
    monkeypatch.setattr(status_cmd, "IDLE_STOP_S", 1.0)
    shown: list[dict] = []
    real_show = status_cmd._show

    def show(path, as_json, clear, lines=False):
        idle = real_show(path, as_json, clear, lines)
        shown.append(idle)
        if len(shown) == 2:  # the sweep moves on between two refreshes: everything ends
            for c, r in ((0, 2), (0, 3), (1, 2), (1, 3)):
                store.write_realisation(hand, c, r, {"status": store.DONE})
        return idle

    monkeypatch.setattr(status_cmd, "_show", show)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["status", str(hand), "--watch", "--interval", "0.5", "--json"]) == 0
    assert shown[:2] == [False, False] and shown[-1] is True
    assert 3 <= len(shown) <= 6  # stopped by itself about IDLE_STOP_S after going idle
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert len(lines) == len(shown)  # --watch --json: JSON Lines, one object a refresh
    assert lines[-1]["totals"]["done"] == 7


def test_watch_rejects_a_busy_loop(hand, capsys):
    assert main(["status", str(hand), "--watch", "-n", "0.01"]) == 2
    assert "at least" in capsys.readouterr().err


# --- squeue ---------------------------------------------------------------------------------

def fake_squeue(directory: Path, body: str) -> Path:
    """A ``squeue`` on PATH that records its argv and prints what a real one prints."""
    exe = directory / "squeue"
    exe.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {directory}/argv\n{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_squeue_jobs_listed_for_the_user(tmp_path, monkeypatch):
    fake_squeue(tmp_path, "echo '4711|RUNNING|dask-worker|1:02:03|node01'\n"
                          "echo '4712|PENDING|dask-worker|0:00|(Resources)'")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("USER", "alice")
    jobs = queue.slurm_jobs()
    assert [j["job_id"] for j in jobs] == ["4711", "4712"]
    assert jobs[1] == {"job_id": "4712", "state": "PENDING", "name": "dask-worker",
                       "time": "0:00", "reason": "(Resources)"}
    argv = (tmp_path / "argv").read_text().split("\n")
    assert argv[:4] == ["--noheader", f"--format={queue.SQUEUE_FORMAT}", "--user", "alice"]
    text = queue.render_slurm(jobs)
    assert "2 batch job(s) in flight: 1 pending, 1 running" in text


def test_squeue_odd_user_falls_back_to_me(tmp_path, monkeypatch):
    fake_squeue(tmp_path, "true")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("USER", "-o;rm -rf /")
    assert queue.slurm_jobs() == []
    assert (tmp_path / "argv").read_text().split("\n")[2] == "--me"


def test_squeue_absent_failing_or_hanging_is_skipped_quietly(tmp_path, monkeypatch, hand,
                                                             capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no squeue at all
    assert queue.squeue_argv() is None and queue.slurm_jobs() is None
    assert main(["status", str(hand)]) == 0
    assert "slurm" not in capsys.readouterr().out
    fake_squeue(tmp_path, "exit 1")
    assert queue.slurm_jobs() is None
    fake_squeue(tmp_path, "exec sleep 5")
    monkeypatch.setattr(queue, "SQUEUE_TIMEOUT_S", 0.3)
    assert queue.slurm_jobs() is None
