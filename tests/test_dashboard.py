"""The live page's server over plain HTTP (no browser): what it serves, to whom, and how it ends.

The browser-level tests are in test_browser.py; these run everywhere in a few seconds.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

import mesosweep.live as dash
from mesosweep.ensemble.observe import read_status
from tests.test_status import LOG_TAIL, handmade_store


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return handmade_store(tmp_path, now=time.time())


@pytest.fixture
def page(store):
    p = dash.LivePage(store, "http://127.0.0.1:8787/status").start()
    yield p
    p.stop(drain=False)


def get(page: dash.LivePage, path: str, host: str | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
    headers = {"Host": host} if host else {}
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    out = resp.status, dict(resp.getheaders()), resp.read()
    conn.close()
    return out


def test_serves_the_page_and_the_status_of_the_store(page, store):
    assert page.url == f"http://127.0.0.1:{page.port}/"
    for path, kind in (("/", "text/html"), ("/dashboard.js", "text/javascript"),
                       ("/dashboard.css", "text/css")):
        code, headers, body = get(page, path)
        assert code == 200 and headers["Content-Type"].startswith(kind) and body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
    code, headers, body = get(page, "/api/status?client=t1&refresh=1")
    assert code == 200 and headers["Content-Type"] == "application/json"
    data = json.loads(body)
    ref = read_status(store)  # what `mesosweep status --json` shows
    for key in ("totals", "cases", "failures", "timeline", "throughput_per_hour", "stages",
                "driver_gone"):
        assert data[key] == ref[key]
    # (elapsed times differ by the time between the two reads)
    assert [e["label"] for e in data["running"]] == [e["label"] for e in ref["running"]]
    assert data["failures"][0]["log_tail"] == LOG_TAIL
    assert data["stale"] is False and data["page"]["final"] is False
    assert data["page"]["dask_pages"][0] == {"name": "Status",
                                             "url": "http://127.0.0.1:8787/status"}
    assert {p["name"] for p in data["page"]["dask_pages"]} >= {"Workers", "Task stream",
                                                               "Profile", "System"}


def test_nothing_else_is_served_and_other_hosts_are_refused(page):
    assert get(page, "/../ensemble/status.py")[0] == 404
    assert get(page, "/static/index.html")[0] == 404
    assert get(page, "/api/status", host=f"localhost:{page.port}")[0] == 200  # via the tunnel
    # A web page renamed to a name that resolves here (DNS rebinding) gets nothing.
    assert get(page, "/api/status", host="attacker.example")[0] == 403
    assert get(page, "/", host=f"attacker.example:{page.port}")[0] == 403
    conn = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
    conn.request("POST", "/api/status", body=b"{}")
    assert conn.getresponse().status == 405
    conn.close()


def test_unreadable_store_serves_the_last_good_status_marked_stale(page, store, monkeypatch):
    monkeypatch.setattr(dash, "CACHE_S", 0.0)
    monkeypatch.setattr(dash, "READ_SHARE", 0.0)
    good = json.loads(get(page, "/api/status")[2])
    # A chunk that cannot be decoded, as one caught half-written by a worker would be.
    chunk = store / "status" / "c" / "0" / "0"
    saved = chunk.read_bytes()
    chunk.write_bytes(b"\x00garbage")
    try:
        data = json.loads(get(page, "/api/status")[2])
    finally:
        chunk.write_bytes(saved)
    assert data["stale"] is True and data["read_error"]
    assert data["totals"] == good["totals"]  # the page keeps showing what it knew
    assert json.loads(get(page, "/api/status")[2])["stale"] is False


def test_stop_without_watchers_is_immediate(store):
    p = dash.LivePage(store).start()
    t0 = time.monotonic()
    p.stop()
    assert time.monotonic() - t0 < 1.0
    p.stop()  # idempotent
    with pytest.raises(OSError):
        urllib.request.urlopen(p.url, timeout=2)


def test_stop_waits_for_a_watching_page_to_fetch_the_final_state(store):
    p = dash.LivePage(store).start()
    base = f"http://127.0.0.1:{p.port}/api/status?client=watcher&refresh=0.3"
    urllib.request.urlopen(base, timeout=5).read()  # the page polled just now
    time.sleep(0.1)  # the server notes a poll just after sending its answer
    seen: list[bool] = []

    def keep_polling() -> None:  # what the page's script does every 0.3 s
        for _ in range(20):
            time.sleep(0.3)
            try:
                data = json.loads(urllib.request.urlopen(base, timeout=5).read())
            except OSError:
                return
            seen.append(data["page"]["final"])
            if data["page"]["final"]:
                return

    poller = threading.Thread(target=keep_polling)
    poller.start()
    t0 = time.monotonic()
    p.stop()
    waited = time.monotonic() - t0
    poller.join(10)
    assert seen and seen[-1] is True  # the watcher got the final state before the page went
    assert waited < 0.3 + 1.0 + 0.5


def test_stop_gives_up_on_a_page_that_went_away(store):
    p = dash.LivePage(store).start()
    urllib.request.urlopen(f"http://127.0.0.1:{p.port}/api/status?client=gone&refresh=0.5",
                           timeout=5).read()
    time.sleep(0.2)  # the server notes a poll just after sending its answer
    t0 = time.monotonic()
    p.stop()
    assert 1.0 <= time.monotonic() - t0 < 2.5  # its interval + 1 s, not DRAIN_MAX_S


def _env(monkeypatch) -> None:
    for name in ("HOST", "PORT", "BASE_PATH", "ALLOWED_HOSTS"):
        monkeypatch.delenv(f"MESOSWEEP_DASHBOARD_{name}", raising=False)


def test_start_live_page_logs_the_url_and_the_tunnel(store, monkeypatch, caplog):
    _env(monkeypatch)
    with caplog.at_level(logging.INFO, logger="mesosweep.live"):
        p = dash.start_live_page(store, "http://127.0.0.1:40123/status")
    try:
        text = caplog.text
        assert f"live page: http://127.0.0.1:{p.port}/" in text
        assert re.search(rf"ssh -N -L {p.port}:127\.0\.0\.1:{p.port} "
                         rf"-L 40123:127\.0\.0\.1:40123 \S+@\S+$", text, re.M), text
        assert "warning" not in text
    finally:
        p.stop()


def test_start_live_page_off_or_port_taken_never_raises(store, monkeypatch, caplog):
    _env(monkeypatch)
    monkeypatch.setenv("MESOSWEEP_DASHBOARD_PORT", "off")
    with caplog.at_level(logging.INFO, logger="mesosweep.live"):
        dash.start_live_page(store, None).stop()
    assert "live page: off" in caplog.text
    caplog.clear()
    with socket.socket() as taken, caplog.at_level(logging.INFO, logger="mesosweep.live"):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("MESOSWEEP_DASHBOARD_PORT", str(taken.getsockname()[1]))
        dash.start_live_page(store, None).stop()
    assert "live page: not started" in caplog.text and "--watch" in caplog.text
    caplog.clear()
    monkeypatch.setenv("MESOSWEEP_DASHBOARD_PORT", "0")
    monkeypatch.setenv("MESOSWEEP_DASHBOARD_BASE_PATH", "/a b/<x>")
    with caplog.at_level(logging.INFO, logger="mesosweep.live"):
        dash.start_live_page(store, None).stop()
    assert "live page: not started" in caplog.text and "base path" in caplog.text


def test_behind_a_proxy_the_page_serves_under_its_base_path_to_the_allowed_hosts(store):
    """Open OnDemand's /node/HOST/PORT/ (and Jupyter's /proxy/absolute/PORT/) pass the whole
    path on: the page is served under it, and answers the proxy's host name, still bound to
    loopback only."""
    p = dash.LivePage(store, base_path="/node/login1/8765/",
                      allowed_hosts=("ondemand.example.org",)).start()
    try:
        assert p.url == f"http://127.0.0.1:{p.port}/node/login1/8765/"
        proxy = "ondemand.example.org"
        for path in ("/node/login1/8765/", "/node/login1/8765/dashboard.js",
                     "/node/login1/8765/api/status"):
            code, _, body = get(p, path, host=proxy)
            assert code == 200 and body, path
        code, headers, _ = get(p, "/node/login1/8765", host=proxy)
        assert code == 302 and headers["Location"] == "/node/login1/8765/"
        # Only under the base path, only to the names allowed.
        assert get(p, "/", host=proxy)[0] == 404 and get(p, "/api/status", host=proxy)[0] == 404
        assert get(p, "/node/login1/8765/api/status", host="attacker.example")[0] == 403
        assert get(p, "/node/login1/8765/api/status")[0] == 200  # the tunnel still works
        # The page's own links are relative: they resolve below the base path.
        html = get(p, "/node/login1/8765/", host=proxy)[2].decode()
        assert 'src="dashboard.js"' in html and 'href="dashboard.css"' in html
        assert p.host == "127.0.0.1"
        lines = dash.access_lines(p)
        assert f"then open http://localhost:{p.port}/node/login1/8765/" in "\n".join(lines)
        assert "answers to ondemand.example.org" in lines[-1]
    finally:
        p.stop(drain=False)


def test_base_paths_and_allowed_hosts_are_checked():
    assert dash.base_path(None, {}) == "/"
    assert dash.base_path("node/h1/8765", {}) == "/node/h1/8765/"
    assert dash.base_path(None, {"MESOSWEEP_DASHBOARD_BASE_PATH": "/rnode/h/1/"}) == "/rnode/h/1/"
    for bad in ("/a b/", "/x/../y", "/<script>/", "/a?b", "http://x/"):
        with pytest.raises(ValueError, match="base path"):
            dash.base_path(bad, {})
    assert dash.allowed_hosts("OnDemand.Example.org, 10.1.2.3", {}) == (
        "ondemand.example.org", "10.1.2.3")
    assert dash.allowed_hosts(None, {}) == ()
    for bad in ("host:8080", "https://host", "host/path", "-x"):
        with pytest.raises(ValueError, match="allowed host"):
            dash.allowed_hosts(bad, {})


def test_environment_and_helpers():
    assert dash.dashboard_host({}) == "127.0.0.1"
    assert dash.dashboard_host({"MESOSWEEP_DASHBOARD_HOST": "0.0.0.0"}) == "0.0.0.0"
    assert dash.dashboard_host({"MESOSWEEP_DASHBOARD_HOST": "-x; rm"}) == "127.0.0.1"
    assert dash.dashboard_port({}) == 0
    assert dash.dashboard_port({"MESOSWEEP_DASHBOARD_PORT": "8799"}) == 8799
    assert dash.dashboard_port({"MESOSWEEP_DASHBOARD_PORT": "OFF"}) is None
    assert dash.dashboard_port({"MESOSWEEP_DASHBOARD_PORT": "99999"}) == 0
    assert dash.is_loopback("127.0.0.1") and dash.is_loopback("::1")
    assert not dash.is_loopback("0.0.0.0") and not dash.is_loopback("example.org")
    assert dash.tunnel_command([(8800, "127.0.0.1", 8800)], "ann", "login1") == \
        "ssh -N -L 8800:127.0.0.1:8800 ann@login1"
    assert dash.dask_pages(None) == []
    assert dash.dask_pages("http://h:1/status")[1] == {"name": "Workers",
                                                       "url": "http://h:1/workers"}


def test_status_serve_command_serves_until_interrupted(store):
    proc = subprocess.Popen([sys.executable, "-m", "mesosweep.cli", "status", "--serve",
                             str(store)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"live page: (http://127\.0\.0\.1:\d+/)", line).group(1)
        data = json.loads(urllib.request.urlopen(url + "api/status", timeout=10).read())
        assert data["totals"]["total"] == 8
        assert data["page"]["served_by"] == "mesosweep status --serve"
        assert data["page"]["dask_pages"] == []
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
