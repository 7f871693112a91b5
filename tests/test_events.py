"""The runner's events: the bus, the terminal lines, the stage watcher, the live page's
subscriber (no LAMMPS, no Dask)."""

import io
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
    StageStarted,
    SweepFinished,
    SweepStarted,
    log_event,
)
from mesosweep.ensemble.layout import RealisationLayout
from mesosweep.ensemble.progress import ProgressPrinter, StageWatcher
from mesosweep.stages.protocol import LOG_FILE, RESULT_FILE

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


def test_the_terminal_lines_are_those_of_the_runner():
    lines = [ProgressPrinter.line(e) for e in (
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
    ]
    out = io.StringIO()
    ProgressPrinter(out)(STARTED)
    assert out.getvalue() == lines[0] + "\n"


def test_the_log_gets_every_event(caplog):
    with caplog.at_level(logging.INFO, logger="mesosweep.sweep"):
        log_event(RealisationRetried("96-4/r0001", 2, 3))
    assert "RealisationRetried label=96-4/r0001 attempt=2 max_attempts=3" in caplog.text


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

    def start(store, dask_link, out):
        calls.append(("start", store, dask_link))
        return Page()

    monkeypatch.setattr(live, "start_live_page", start)
    return live, calls


def test_the_live_page_starts_and_stops_with_the_sweep(fake_pages):
    live, calls = fake_pages
    page = live.LivePageSubscriber(io.StringIO())
    page(RealisationQueued("96-4/r0000"))
    assert calls == []
    page(STARTED)
    assert calls == [("start", Path("q.zarr"), "http://127.0.0.1:8787/status")]
    page(SweepFinished(Path("q.zarr"), 2, 0, False))
    page(SweepFinished(Path("q.zarr"), 2, 0, False))  # a second end stops nothing more
    assert calls[1:] == [("stop", True)]


def test_the_run_command_wires_the_terminal_first_then_the_page(monkeypatch):
    import mesosweep.live as live
    from mesosweep.commands.run import progress_views

    monkeypatch.setattr(live, "start_live_page",
                        lambda store, dask_link, out: print("live page: here", file=out))
    out = io.StringIO()
    progress_views(out).publish(STARTED)
    assert out.getvalue().splitlines() == [ProgressPrinter.line(STARTED), "live page: here"]
