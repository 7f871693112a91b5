"""The Dask dashboard links the driver prints answer with their pages (they need bokeh)."""

import urllib.request

from mesosweep.cluster import start
from mesosweep.ensemble.spec import load_spec
from mesosweep.live import dask_pages
from tests.conftest import tiny_spec_text


def test_the_dashboard_pages_the_driver_links_answer_with_content(tmp_path):
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(tiny_spec_text(str(tmp_path / "tiny.zarr"), workers=1))
    cluster = start(load_spec(spec_file), tmp_path / "tiny.work")
    try:
        assert cluster.dashboard.startswith("http://127.0.0.1:")  # loopback, as printed
        pages = {p["name"]: p["url"] for p in dask_pages(cluster.dashboard)}
        assert pages["Status"] == cluster.dashboard
        for name in ("Status", "Workers", "Task stream", "System"):
            with urllib.request.urlopen(pages[name], timeout=60) as resp:
                body = resp.read().decode("utf-8", "replace")
                assert resp.status == 200, name
            # A bokeh document, not distributed's placeholder that asks for bokeh.
            assert "Bokeh" in body and len(body) > 1000, (name, body[:300])
            assert "pip install bokeh" not in body.lower()
        # Worker details (distributed's own pages) answer too.
        with urllib.request.urlopen(pages["Info (logs, worker details)"], timeout=60) as resp:
            assert resp.status == 200 and b"Worker" in resp.read()
    finally:
        cluster.close()
