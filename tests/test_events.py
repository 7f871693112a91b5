"""The runner's events: the bus, the terminal lines, the stage watcher, the live page's
subscriber (no LAMMPS, no Dask)."""

import json
import logging
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from mesosweep.ensemble.events import (
    EventBus,
    RealisationDone,
    RealisationFailed,
    RealisationQueued,
    RealisationRetried,
    StageDone,
    StageFailed,
    StageProgress,
    StageStarted,
    SweepFinished,
    SweepProgress,
    SweepStarted,
    log_event,
)
from mesosweep.ensemble.layout import RealisationLayout, SweepLayout
from mesosweep.ensemble.progress import ProgressLog, StageWatcher, rule_measures, stage_progress
from mesosweep.ensemble.runner import driver_log
from mesosweep.stages.protocol import (
    LOG_FILE,
    PROTOCOL_FILE,
    RESULT_FILE,
    Commands,
    Converge,
    Protocol,
    history_file,
)

STARTED = SweepStarted(Path("q.zarr"), 2, "local", 2, 1, ("/venv/bin/mpiexec", "-n", "1"),
                       "http://127.0.0.1:8787/status")


def test_the_bus_delivers_in_order_by_kind_and_survives_a_failing_subscriber(caplog):
    bus, seen = EventBus(), []

    def broken(event):
        raise RuntimeError("a view broke")

    bus.subscribe(lambda e: seen.append(("all", type(e).__name__)))
    bus.subscribe(broken, StageFailed)
    bus.subscribe(lambda e: seen.append(("stages", e.stage)), StageStarted, StageFailed)
    with caplog.at_level(logging.ERROR, logger="mesosweep.sweep"):
        bus.publish(StageStarted("96-4/r0000", "slurry"))
        bus.publish(RealisationQueued("96-4/r0001"))
        bus.publish(StageFailed("96-4/r0000", "slurry"))
    assert seen == [("all", "StageStarted"), ("stages", "slurry"),
                    ("all", "RealisationQueued"), ("all", "StageFailed"), ("stages", "slurry")]
    assert "a view broke" in caplog.text  # logged, and the next subscriber still ran


def test_the_terminal_lines_are_those_of_the_runner(caplog):
    lines = [ProgressLog.line(e) for e in (
        STARTED,
        RealisationQueued("96-4/r0000"),
        StageStarted("96-4/r0000", "slurry"),
        StageDone("96-4/r0000", "pressing-0.15", 3657, 0.345, 2.06e6),
        StageFailed("96-4/r0000", "drying"),
        RealisationDone("96-4/r0000", 1, 2, elapsed_s=25.2, wall_s=18.4,
                        porosity=(0.513, 0.4891, 0.48754)),
        RealisationFailed("96-4/r0001", 2, 2, 30.6, error="stage slurry failed at step 100"),
        RealisationRetried("96-4/r0001", 2, 3),
        SweepFinished(Path("q.zarr"), 2, 0, False),
        SweepProgress(done=3, failed=1, running=2, total=10, elapsed_s=600.0, eta_s=1400.0),
        SweepProgress(done=0, failed=0, running=2, total=10, elapsed_s=60.0, eta_s=None),
        StageProgress("96-4/r0000", "slurry", steps=3000, max_steps=8000, elapsed_s=90.0,
                      remaining_s=150.0, block="density", quantity="density", units="g/cm^3",
                      value=0.54612, rule="consecutive", change=0.0123, tolerance=0.005,
                      calm=0, patience=3),
        StageProgress("96-4/r0000", "pressing-0.15", steps=500, max_steps=3846, elapsed_s=2.0,
                      remaining_s=13.4),
    )]
    assert lines == [
        "cluster: 2 local worker(s) x 1 MPI rank(s), launched with '/venv/bin/mpiexec -n 1'; "
        "dashboard http://127.0.0.1:8787/status",
        None,
        "  96-4/r0000 slurry: running",
        "  96-4/r0000 pressing-0.15: done, 3657 steps in 0.3 s (2.06e+06 atom-steps/s)",
        "  96-4/r0000 drying: failed",
        "[1/2] 96-4/r0000 done in 18 s (25 s into the sweep); porosity by degree: "
        "0.513 0.489 0.488",
        "[2/2] 96-4/r0001 FAILED after 31 s: stage slurry failed at step 100",
        "  96-4/r0001: retrying (attempt 2 of 3)",
        None,
        "progress: 3/10 done (1 failed), 2 running, 10 min 00 s into the sweep; "
        "ETA 23 min 20 s",
        "progress: 0/10 done (0 failed), 2 running, 1 min 00 s into the sweep; "
        "ETA known once a realisation ends",
        "  96-4/r0000 slurry: 3000/8000 steps · density 0.5461 g/cm^3, change 1.2% "
        "(tolerance 0.5%, 0/3 settled) · at most 2 min 30 s left",
        "  96-4/r0000 pressing-0.15: 500/3846 steps · at most 13 s left",
    ]
    with caplog.at_level(logging.INFO, logger="mesosweep.progress"):
        ProgressLog()(STARTED)
    assert [r.getMessage() for r in caplog.records] == [lines[0]]


def test_a_stage_s_progress_reaches_the_terminal_once_a_minute_and_the_log_every_time(caplog):
    view = ProgressLog(stage_line_s=60.0)
    p = StageProgress("96-4/r0000", "slurry", 500, 8000, 10.0, 150.0)
    with caplog.at_level(logging.DEBUG, logger="mesosweep.progress"):
        view(p)
        view(p)
        view(StageProgress("96-4/r0001", "slurry", 500, 8000, 10.0, 150.0))
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.DEBUG, logging.INFO]


def test_the_log_gets_every_event(caplog):
    with caplog.at_level(logging.DEBUG, logger="mesosweep.sweep"):
        log_event(RealisationRetried("96-4/r0001", 2, 3))
    assert "RealisationRetried label=96-4/r0001 attempt=2 max_attempts=3" in caplog.text
    assert caplog.records[0].levelno == logging.DEBUG  # the terminal shows it with -v only


def test_the_driver_log_keeps_every_line_with_its_time_while_the_sweep_runs(tmp_path):
    sweep = SweepLayout(tmp_path / "s.zarr")
    log = logging.getLogger("mesosweep.sweep")
    with driver_log(sweep) as path:
        log.debug("a detail")
        log.warning("a warning")
    log.info("after the sweep")  # the file is no longer written
    assert path == sweep.driver_log == tmp_path / "s.work" / "driver.log"
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("DEBUG   mesosweep.sweep: a detail")
    assert lines[1].split()[2] == "WARNING"
    date, clock = lines[0].split()[:2]
    assert len(date) == 10 and date[4] == "-" and clock[2] == ":"  # 2026-01-15 08:00:01,123
    with driver_log(sweep):
        log.info("a second driver")  # appended, not replaced
    assert len(path.read_text().splitlines()) == 3
    assert not [h for h in logging.getLogger("mesosweep").handlers
                if isinstance(h, logging.FileHandler)]


def _result(directory: Path, status: str) -> None:
    (directory / RESULT_FILE).write_text(json.dumps(
        {"status": status, "steps": 9500, "wall_s": 0.9, "atom_steps_per_s": 1.62e6}))


def test_the_watcher_reports_each_stage_transition_once():
    # The stand-in log lies outside pytest's folders: the LAMMPS guard looks for real logs there.
    with tempfile.TemporaryDirectory(prefix="mesosweep-watcher-") as tmp:
        _watch(Path(tmp))


def _watch(tmp_path: Path) -> None:
    layout = RealisationLayout(tmp_path / "96-4" / "r0000", "96-4/r0000")
    real = SimpleNamespace(label=layout.label, layout=layout)
    watcher = StageWatcher([real])
    assert watcher.poll() == []  # no work folder yet
    layout.stage_dir("structure").mkdir(parents=True)  # not a LAMMPS stage: never shown
    attempt = layout.attempt_dir(layout.stage_dir("slurry"))
    attempt.mkdir()
    assert watcher.poll() == []  # an attempt without a log has not started
    (attempt / LOG_FILE).write_text("LAMMPS\n")
    assert watcher.poll() == [StageStarted("96-4/r0000", "slurry")]
    assert watcher.poll() == []
    attempt.rename(layout.stage_dir("slurry"))
    _result(layout.stage_dir("slurry"), "done")
    pressing = layout.stage_dir("pressing", 0.15)
    pressing.mkdir()
    _result(pressing, "failed")
    assert watcher.poll() == [StageDone("96-4/r0000", "slurry", 9500, 0.9, 1.62e6),
                              StageFailed("96-4/r0000", "pressing-0.15")]
    assert watcher.poll() == []


@pytest.fixture
def fake_pages(monkeypatch):
    """start_live_page replaced by a recorder: the subscriber's wiring, without a server."""
    import mesosweep.live as live

    calls = []

    class Page:
        def stop(self, drain=True):
            calls.append(("stop", drain))

    def start(store, dask_link):
        calls.append(("start", store, dask_link))
        return Page()

    monkeypatch.setattr(live, "start_live_page", start)
    return live, calls


def test_the_live_page_starts_and_stops_with_the_sweep(fake_pages):
    live, calls = fake_pages
    page = live.LivePageSubscriber()
    page(RealisationQueued("96-4/r0000"))
    assert calls == []
    page(STARTED)
    assert calls == [("start", Path("q.zarr"), "http://127.0.0.1:8787/status")]
    page(SweepFinished(Path("q.zarr"), 2, 0, False))
    page(SweepFinished(Path("q.zarr"), 2, 0, False))  # a second end stops nothing more
    assert calls[1:] == [("stop", True)]


def test_the_run_command_wires_the_terminal_first_then_the_page(monkeypatch, caplog):
    import mesosweep.live as live
    from mesosweep.commands.run import progress_views

    monkeypatch.setattr(live, "start_live_page",
                        lambda store, dask_link: live.LOG.info("live page: here"))
    with caplog.at_level(logging.INFO, logger="mesosweep"):
        progress_views().publish(STARTED)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == [
        ProgressLog.line(STARTED), "live page: here"]


# --- progress inside a stage ------------------------------------------------------------------


@pytest.fixture
def outside():
    """A folder outside pytest's: stand-in LAMMPS logs there are not taken for real ones by
    the LAMMPS guard."""
    with tempfile.TemporaryDirectory(prefix="mesosweep-progress-") as tmp:
        yield Path(tmp)

THERMO_HEADER = "   Step          Atoms         KinEng         PotEng        c_ztopmax   \n"


def running_stage(directory: Path, *, first_step: int = 0, steps: int = 3000,
                  checks: list[float] | None = None, rule: str = "consecutive") -> Path:
    """A stage attempt as LAMMPS leaves it while it runs: its protocol (a fixed run of 2000
    steps, then a loop of at most 6000), a log with thermo lines every 500 steps up to
    ``steps``, and the loop's checks so far."""
    directory.mkdir(parents=True, exist_ok=True)
    Protocol("slurry", (Commands(("thermo 500", "run 2000")),
                        Converge("density", "density_g_cm3", 500, 6000, 0.005, rule=rule)),
             atoms=153).write(directory)
    rows = "".join(f"  {first_step + k} 153 10.5 -1.25 {7 + k / 1e4}\n"
                   for k in range(0, steps + 1, 500))
    (directory / LOG_FILE).write_text(
        "LAMMPS (22 Jul 2025)\n  153 atoms\nrun 2000\n" + THERMO_HEADER + rows
        + "Loop time of 0.4 on 1 procs for 2000 steps with 153 atoms\n" + THERMO_HEADER
        + rows[-40:])
    if checks is not None:
        (directory / history_file("density")).write_text(
            "# steps density_g_cm3\n"
            + "".join(f"{500 * (k + 1)} {v!r}\n" for k, v in enumerate(checks)))
    return directory


def test_stage_progress_reads_steps_the_cap_and_the_rule_s_quantity(outside):
    tmp_path = outside
    d = running_stage(tmp_path / ".slurry.abc.tmp", first_step=1200, steps=3000,
                      checks=[0.50, 0.52, 0.521, 0.5211])
    started = (d / PROTOCOL_FILE).stat().st_mtime
    p = stage_progress(d, "96-4/r0000", "slurry", now=started + 30.0)
    assert (p.steps, p.max_steps) == (3000, 8000)  # 2000 fixed + 6000 at most in the loop
    assert p.elapsed_s == 30.0 and p.remaining_s == pytest.approx(5000 * 30.0 / 3000)
    assert (p.block, p.quantity, p.units, p.rule) == ("density", "density", "g/cm^3",
                                                       "consecutive")
    assert p.value == 0.5211 and p.change == pytest.approx(0.0001 / 0.521)
    assert (p.tolerance, p.calm, p.patience) == (0.005, 2, 3)  # 0.52->0.521->0.5211 settled
    # Before its loop begins, a stage is in its fixed run: steps only.
    early = stage_progress(running_stage(tmp_path / "early", steps=1000), "l", "slurry")
    assert early.steps == 1000 and early.block is None and early.value is None
    # Before the first thermo line there is nothing to say.
    (tmp_path / "fresh").mkdir()
    Protocol("slurry", (Commands(("run 10",)),), atoms=1).write(tmp_path / "fresh")
    (tmp_path / "fresh" / LOG_FILE).write_text("LAMMPS (22 Jul 2025)\n")
    assert stage_progress(tmp_path / "fresh", "l", "slurry") is None


def test_rule_measures_are_what_the_lammps_loop_compares():
    values = [1.0, 1.1, 1.15, 1.175]
    consecutive = rule_measures(values, "consecutive")
    assert consecutive[0] is None
    assert consecutive[1:] == pytest.approx([0.1, 0.05 / 1.1, 0.025 / 1.15])
    extrapolated = rule_measures(values, "extrapolated")
    assert extrapolated[:2] == [None, None]
    # Steps 0.1, 0.05: ratio 1/2, still to come 0.05 * 0.5 / 0.5 = 0.05, relative to 1.15.
    assert extrapolated[2] == pytest.approx(0.05 / 1.15)
    assert rule_measures([1.0, 1.1, 1.3], "extrapolated")[2] == float("inf")  # a drift
    assert rule_measures([1.0, 1.1, 1.05], "extrapolated")[2] == pytest.approx(0.05 / 1.05)


def test_the_watcher_publishes_a_running_stage_s_progress_while_it_moves(outside):
    tmp_path = outside
    layout = RealisationLayout(tmp_path / "96-4" / "r0000", "96-4/r0000")
    real = SimpleNamespace(label=layout.label, layout=layout)
    attempt = layout.attempt_dir(layout.stage_dir("slurry"))
    running_stage(attempt, steps=1000)
    watcher = StageWatcher([real], progress_every_s=10.0)
    first = watcher.poll(now=1000.0)
    assert first[0] == StageStarted("96-4/r0000", "slurry")
    assert isinstance(first[1], StageProgress) and first[1].steps == 1000
    assert watcher.poll(now=1005.0) == []  # read again only after progress_every_s
    assert watcher.poll(now=1011.0) == []  # no step since: nothing new to say
    running_stage(attempt, steps=2500, checks=[0.5])
    (later,) = watcher.poll(now=1022.0)
    assert later.steps == 2500 and later.value == 0.5 and later.change is None
