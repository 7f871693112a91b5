"""notebooks/compare.ipynb runs end to end on the tiny sweep's store (with XCT sub-volumes)."""

import os
from pathlib import Path

import pytest

from mesosweep.analysis.xct import measure_phases
from mesosweep.ensemble.xct_store import write_xct
from tests.test_report import synthetic_xct_labels, tiny_sweep_store

pytestmark = [pytest.mark.notebook, pytest.mark.lammps, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "compare.ipynb"


def test_compare_notebook_executes(tmp_path_factory, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (test extra)")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (test extra); "
                                   "pip install nbclient nbformat ipykernel")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed: no kernel to run it")
    shared = tiny_sweep_store(tmp_path_factory)
    # A copy: the notebook's store gets an 'xct' group, the shared one stays as the sweep left it.
    import shutil

    store = tmp_path / "tiny.zarr"
    shutil.copytree(shared, store)
    xct = measure_phases(synthetic_xct_labels(), 0.5, (8.0, 8.0, 8.0), n=3, seed=4)
    xct.attrs["degree"] = 0.35
    write_xct(xct, store)

    monkeypatch.setenv("MESOSWEEP_STORE", str(store))
    monkeypatch.delenv("MESOSWEEP_XCT", raising=False)
    # The kernel's inline backend (Agg underneath) must be left to show the figures.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    # The kernel must import this checkout's analysis package, installed or not.
    monkeypatch.setenv("PYTHONPATH",
                       os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for o in outputs)
    assert "done" in text and "XCT: 3 sub-volumes" in text
    assert "porosity" in text and "realisations_needed" in text  # the comparison table
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1  # Fig. 3A at least
