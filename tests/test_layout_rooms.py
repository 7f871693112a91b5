"""Each room one job: the runner (``mesosweep.ensemble``) imports no plotting, web or image
processing library. Figures live in ``mesosweep.report``, the live page in ``mesosweep.live``,
image processing in ``mesosweep.analysis``, queue queries in ``mesosweep.cluster.queue``."""

import json
import pkgutil
import subprocess
import sys

import pytest

import mesosweep.ensemble

FORBIDDEN = ("matplotlib", "tornado", "bokeh", "skimage")
MODULES = sorted(m.name for m in pkgutil.iter_modules(mesosweep.ensemble.__path__))


def _loaded_after_import(module: str) -> list[str]:
    """The forbidden top-level packages in ``sys.modules`` after importing ``module`` in a
    fresh interpreter (this one has imported them all already)."""
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        "top = {m.split('.')[0] for m in sys.modules}\n"
        f"print(json.dumps(sorted(top & set({FORBIDDEN!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def test_every_ensemble_module_is_checked():
    assert {"runner", "store", "status", "progress", "events", "realisation"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_an_ensemble_module_imports_no_plotting_web_or_image_library(name):
    assert _loaded_after_import(f"mesosweep.ensemble.{name}") == []


def test_the_rooms_that_hold_them_are_where_they_are_expected():
    # The reverse check, so the test above cannot pass by testing nothing.
    assert "matplotlib" in _loaded_after_import("mesosweep.report.figures")
    assert "tornado" in _loaded_after_import("mesosweep.live")
    assert "skimage" in _loaded_after_import("mesosweep.analysis.separation")
