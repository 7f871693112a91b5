"""The live page tested as a person would use it: a real sweep, a real headless Chromium.

Needs Debian's ``chromium`` and ``chromium-driver`` and Selenium's Python bindings; without them
the tests skip and say how to get them (``.ci/install-browser.sh``). Selenium is pointed at those
two binaries, so it never downloads a browser or a driver. Screenshots of the page are saved
under ``test-artifacts/`` at the top of the repository.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mesosweep.cli import main
from mesosweep.ensemble.status import STATES, read_summary
from mesosweep.live import LivePage

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
# Known to work for Chromium as root with no network but loopback (see docs/dashboard.md).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--hide-scrollbars", "--window-size=1280,900")
SWEEP_TIMEOUT_S = 300.0


def _missing() -> list[str]:
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    try:
        import selenium  # noqa: F401, PLC0415
    except ImportError:
        missing.append("selenium (Python package)")
    return missing


pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    bool(_missing()),
    reason=f"headless browser test needs {', '.join(_missing())}: run .ci/install-browser.sh "
           "(as root, on Debian) to install chromium, chromium-driver and selenium")]


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium through its matching ChromeDriver, with a new empty profile."""
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console, CSP reports
    service = Service(executable_path=shutil.which("chromedriver"),
                      log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, name: str) -> Path:
    """The whole page (not just the window) as test-artifacts/NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    path = ARTIFACTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def dom_totals(driver) -> dict[str, int | str]:
    """The four big counts and the live indicator, as the reader sees them.

    Read in one script, which runs between two renders of the page: element by element, a
    render could land between the reads and mix the counts of one poll with the live state of
    the next (e.g. the last "running" counts beside "final").
    """
    values = driver.execute_script(
        "const states = arguments[0];"
        "const out = Object.fromEntries(states.map("
        "  s => [s, document.getElementById(`total-${s}`).textContent.trim()]));"
        "out.live = document.getElementById('live').dataset.state;"
        "return out;", list(STATES))
    out: dict[str, int | str] = {s: int(values[s]) if values[s].isdigit() else -1
                                 for s in STATES}
    out["live"] = values["live"]
    return out


def dom_table(driver) -> dict[tuple[str, str, str], int]:
    """Every count of the case × stage table: (case, stage or 'realisations', state) -> n."""
    cells = driver.execute_script(
        "return [...document.querySelectorAll('#stage-table td[data-state]')]"
        ".map(td => [td.dataset.case, td.dataset.stage, td.dataset.state, td.textContent])")
    return {(c, s, k): int(n) for c, s, k, n in cells}


def json_table(summary: dict) -> dict[tuple[str, str, str], int]:
    """The same cells from ``mesosweep status --json``."""
    out = {}
    for case in summary["cases"]:
        for k in STATES:
            out[(case["case"], "realisations", k)] = case["realisations"][k]
            for stage, counts in case["stages"].items():
                out[(case["case"], stage, k)] = counts[k]
    return out


def status_json(store: Path) -> dict:
    """``mesosweep status STORE --json``, in this process (fast enough to poll)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["status", str(store), "--json"]) == 0
    return json.loads(buf.getvalue())


def severe_console(driver) -> list[str]:
    """Errors the page raised or the browser reported (CSP violations land here too)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.mark.lammps
@pytest.mark.slow
def test_live_page_follows_a_real_sweep_to_the_end(browser, tmp_path):
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    import tests.conftest as conf

    # One worker for two realisations: the second waits in the queue while the first runs,
    # so the page must show counts moving queued -> running -> done.
    text = conf.TINY_SPEC.format(output="tiny.zarr", ranks=1)
    assert "workers = 2" in text
    spec = tmp_path / "tiny.toml"
    spec.write_text(text.replace("workers = 2", "workers = 1"))
    store = tmp_path / "tiny.zarr"
    log_path = tmp_path / "run.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESOSWEEP_DASHBOARD")}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mesosweep.cli", "run", str(spec)],
                                cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        # The driver prints the page's address and the tunnel to reach it.
        deadline = time.monotonic() + SWEEP_TIMEOUT_S
        url = None
        while url is None:
            found = re.search(r"live page: (http://127\.0\.0\.1:\d+/)", log_path.read_text())
            url = found.group(1) if found else None
            assert proc.poll() is None or url, f"sweep ended early:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, "no live page announced"
            time.sleep(0.2)
        printed = log_path.read_text()
        port = url.rsplit(":", 1)[1].strip("/")
        assert re.search(rf"ssh -N -L {port}:127\.0\.0\.1:{port} -L (\d+):127\.0\.0\.1:\1 \S+@\S+",
                         printed), printed
        dask_link = re.search(r"dashboard (http://127\.0\.0\.1:\d+/status)", printed).group(1)

        browser.get(url + "?refresh=0.5")
        seen: list[dict] = []
        shots: dict[str, Path] = {}
        agreement_checked = False
        while True:
            assert time.monotonic() < deadline, f"sweep did not finish: {seen[-3:]}"
            totals = dom_totals(browser)
            if totals["queued"] >= 0 and (not seen or totals != seen[-1]):
                seen.append(totals)
            if totals["live"] == "live" and "start" not in shots:
                shots["start"] = screenshot(browser, "live-page-1-running")
            if (totals["live"] == "live" and totals["done"] == 1 and not agreement_checked):
                # Both views agree while the sweep runs: the command's counts lie between
                # what the page showed just before and what it shows once it has refreshed.
                before = totals
                cli = status_json(store)["totals"]
                time.sleep(2.0)  # > the page's refresh (0.5 s) + the server's cache (1 s)
                after = dom_totals(browser)
                assert before["done"] <= cli["done"] <= after["done"], (before, cli, after)
                assert before["queued"] >= cli["queued"] >= after["queued"], (before, cli, after)
                assert cli["failed"] == before["failed"] == after["failed"] == 0
                agreement_checked = True
                if after["live"] == "live" and after["done"] < 2:
                    shots["midway"] = screenshot(browser, "live-page-2-one-done")
            if totals["live"] == "final":
                break
            if proc.poll() is not None and totals["live"] == "offline":
                pytest.fail(f"page lost the driver before showing the final state: {seen}")
            time.sleep(0.25)
        shots["final"] = screenshot(browser, "live-page-3-finished")
        assert proc.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # Counts moved from queued/running to done, never backwards.
    first, last = seen[0], seen[-1]
    assert first["queued"] + first["running"] == 2 and first["done"] == 0, seen
    assert any(s["running"] == 1 and s["done"] == 1 for s in seen), seen  # one done, one to go
    assert last["done"] == 2 and last["queued"] == last["running"] == last["failed"] == 0, seen
    dones = [s["done"] for s in seen]
    assert dones == sorted(dones), seen
    assert agreement_checked, seen

    # At the end, the page and `mesosweep status STORE --json` (a separate command) agree in
    # every cell of the case × stage table.
    out = subprocess.run([sys.executable, "-m", "mesosweep.cli", "status", str(store), "--json"],
                         capture_output=True, text=True, check=True, timeout=120)
    summary = json.loads(out.stdout)
    assert summary["complete"] and summary["totals"]["done"] == 2
    assert dom_table(browser) == json_table(summary)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline-box rect[data-status=done]")) == 2
    links = {a.text: a.get_attribute("href")
             for a in browser.find_elements(By.CSS_SELECTOR, "#dask a")}
    assert links["Status"] == dask_link and "Workers" in links and "Task stream" in links
    assert severe_console(browser) == []
    assert all(p.stat().st_size > 10_000 for p in shots.values())


def test_page_shows_failures_with_their_log_tails(browser, tmp_path):
    """A hand-made store with a failure: the log tail is shown as text, the table matches."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    from tests.test_status import LOG_TAIL, handmade_store  # noqa: PLC0415

    store = handmade_store(tmp_path, now=time.time())
    page = LivePage(store).start()
    try:
        browser.get(page.url)
        deadline = time.monotonic() + 30
        while dom_totals(browser)["live"] != "live":
            assert time.monotonic() < deadline, "page never rendered"
            time.sleep(0.1)
        assert dom_totals(browser) == {"queued": 3, "running": 1, "done": 3, "failed": 1,
                                       "live": "live"}
        assert dom_table(browser) == json_table(read_summary(store))
        failure = browser.find_element(By.CSS_SELECTOR, "#failures details")
        assert failure.get_attribute("open") is not None  # a lone failure is shown unfolded
        assert "90-10/r0000 failed in slurry after 2 attempt(s)" in failure.text
        assert "StageError: slurry: LAMMPS exited with code 1" in failure.text
        # The log tail, markup included, is shown as text: nothing from the store runs.
        assert failure.find_element(By.TAG_NAME, "pre").text == LOG_TAIL
        assert browser.find_elements(By.CSS_SELECTOR, "#failures script") == []
        running = browser.find_element(By.ID, "running").text
        assert "96-4/r0002" in running and "drying" in running and "job 4711" in running
        assert "No Dask cluster" in browser.find_element(By.ID, "dask").text
        assert "ETA" not in browser.find_element(By.ID, "eta").text  # a time left is known
        screenshot(browser, "live-page-4-failures")
        assert severe_console(browser) == []
    finally:
        page.stop()
