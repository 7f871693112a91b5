"""The report: figures (PNG + SVG), tables and an escaped index.html, on a tiny sweep's store
and on a synthetic store that holds every metric."""

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from mesosweep.analysis.metric_table import METRICS
from mesosweep.analysis.xct import measure_phases, metrics_dataset
from mesosweep.cli import main
from mesosweep.ensemble.xct_store import write_xct
from mesosweep.report.figures import FIGURES
from tests.conftest import TINY_SPEC, run_tiny_sweep

CASE = "96-4 <b>&"  # a case name that must come out escaped


def tiny_sweep_store(tmp_path_factory) -> Path:
    """The tiny sweep's store, run once per test session and shared between test modules."""
    root = tmp_path_factory.getbasetemp() / "tiny-sweep-shared"
    store = root / "tiny.zarr"
    if (root / "done").is_file():
        return store
    root.mkdir(exist_ok=True)
    assert run_tiny_sweep(root) == 0
    (root / "done").write_text("ok")
    return store


def synthetic_xct_labels(shape=(40, 40, 30), seed=0) -> np.ndarray:
    """Labels 0 pore, 1 AM spheres, 2 CBD specks: a stand-in tomogram."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).reshape(3, -1).T
    labels = np.zeros(shape, dtype=np.uint8)
    flat = labels.reshape(-1)
    for _ in range(35):
        flat[((grid - rng.uniform(0, shape)) ** 2).sum(axis=1) <= rng.uniform(4, 6) ** 2] = 1
    labels[(rng.random(shape) < 0.08) & (labels == 0)] = 2
    return labels


def _fake_metrics(rng: np.random.Generator, degree: float) -> dict:
    """Plausible values of every metric for one electrode state (shapes of METRICS)."""
    out = {}
    for name, metric in METRICS.items():
        shape = metric.shape
        if name.endswith("_histogram"):
            centres = np.asarray(metric.coords[metric.dims[0]].values, dtype=float)
            peak = {"sphericity_histogram": 0.75 - 0.05 * degree,
                    "pore_radius_histogram": 2.5 - 2 * degree,
                    "throat_radius_histogram": 1.0 - degree}.get(name, centres.mean())
            width = 0.08 if name == "sphericity_histogram" else max(np.ptp(centres) / 8, 0.3)
            out[name] = rng.poisson(60 * np.exp(-0.5 * ((centres - peak) / width) ** 2))
        elif name.endswith("_profile"):
            z = np.asarray(metric.coords["z_norm"].values)
            am = 0.5 - 0.15 * np.abs(2 * z - 1) + 0.1 * degree + rng.normal(0, 0.02, z.size)
            cbd = np.full(z.size, 0.05)
            out[name] = {"am_profile": am, "cbd_profile": cbd, "pore_profile": 1 - am - cbd,
                         "pore_radius_profile": 3 - degree + rng.normal(0, 0.2, z.size),
                         "coordination_profile": 5 - 2 * degree + rng.normal(0, 0.3, z.size),
                         }[name]
        elif name == "porosity":
            out[name] = 0.5 - 0.8 * degree + rng.normal(0, 0.01)
        elif name.startswith("tau"):
            out[name] = 1.6 + 2.5 * degree + rng.normal(0, 0.05)
        else:
            out[name] = np.abs(rng.normal(3, 0.3, shape)) if shape else abs(rng.normal(3, 0.3))
    return out


def synthetic_store(path: Path, realisations: int = 4) -> Path:
    """A sweep-like store with every metric (no work directory) and an 'xct' group."""
    rng = np.random.default_rng(7)
    degrees = [0.0, 0.15, 0.3]
    records = [_fake_metrics(rng, d) for _ in range(realisations) for d in degrees]
    flat = metrics_dataset(records, METRICS)
    data = {}
    for name in METRICS:
        v = flat[name]
        data[name] = (("case", "realisation", "degree") + v.dims[1:],
                      v.values.reshape(1, realisations, len(degrees), *v.shape[1:]), v.attrs)
    data["status"] = (("case", "realisation"), np.array([[2] * (realisations - 1) + [3]], np.int8),
                      {"flag_values": [0, 1, 2, 3], "flag_meanings": "queued running done failed"})
    coords = {k: flat.coords[k] for k in flat.coords if k != "subvolume"}
    coords.update(case=("case", np.array([CASE], dtype=object)),
                  realisation=np.arange(realisations), degree=degrees)
    ds = xr.Dataset(data, coords=coords, attrs={
        "title": "synthetic <sweep>", "mesosweep_version": "test",
        "spec": json.dumps({"analysis": {"cbd_as": "pore", "voxel_size_um": 0.25}})})
    ds.to_zarr(path, mode="w-", consolidated=False)
    xrec = [_fake_metrics(rng, 0.3) for _ in range(12)]
    xct = metrics_dataset(xrec, METRICS)
    xct["representative"] = ("subvolume", np.eye(12, dtype=np.int8)[3])
    xct.attrs.update(degree=0.3, cbd_as="pore", size_um="[13.0, 13.0, 10.0]", seed=1,
                     source="synthetic <tomogram>")
    write_xct(xct, path)
    return path


def test_report_on_a_synthetic_store_draws_every_figure(tmp_path):
    store = synthetic_store(tmp_path / "synthetic.zarr")
    out = tmp_path / "report"
    # Given its spec, the report reads the store the spec names (sweep.output).
    spec = tmp_path / "synthetic.toml"
    spec.write_text(TINY_SPEC.format(output=str(store), ranks=1))
    assert main(["report", str(spec), "-o", str(out)]) == 0
    html = (out / "index.html").read_text()
    drawn = {p.stem for p in out.glob("fig*.png")}
    assert {f.__name__ for f in FIGURES} and len(drawn) == len(FIGURES) - 1
    for stem in drawn:
        assert (out / f"{stem}.svg").is_file() and f'src="{stem}.png"' in html
    # No work directory beside a synthetic store: the cross-section says why it is missing.
    assert "Skipped: Cross-section" in html and "fig3e_cross_section.png" not in drawn
    # Escaped text, never raw markup from the data.
    assert "96-4 &lt;b&gt;&amp;" in html and "<b>&" not in html
    assert "synthetic &lt;tomogram&gt;" in html
    # The comparison table: one row per scalar metric, case and degree; the failed
    # realisation is left out (3 of 4).
    table = (out / "comparison.csv").read_text().splitlines()
    assert table[0].startswith("metric,units,case,degree")
    porosity = [row for row in table if row.startswith("porosity,")]
    assert len(porosity) == 3 and all(",3.0," in row for row in porosity)
    assert "realisations needed" in html and "Distributions compared as distributions" in html
    assert (out / "distributions.csv").read_text().count("sphericity_histogram") == 3


@pytest.mark.lammps
@pytest.mark.slow
def test_report_on_the_tiny_sweep_store(tmp_path_factory, tmp_path):
    store = tiny_sweep_store(tmp_path_factory)
    out = tmp_path / "report"
    assert main(["report", str(store), "-o", str(out)]) == 0
    html = (out / "index.html").read_text()
    assert "No XCT sub-volumes" in html
    # Porosity is in every store; the cross-section reads the realisations' final states.
    for stem in ("fig3a_porosity_vs_degree", "fig3e_cross_section"):
        assert (out / f"{stem}.png").is_file() and (out / f"{stem}.svg").is_file()
    # Figures of metrics the store does not hold yet are skipped with a note, not faked.
    ds = xr.open_zarr(store)
    if "tau_z" not in ds:
        assert "Skipped: Tortuosity factor vs porosity" in html
        assert "tau_z not in the sweep store" in html
    # With sub-volumes measured into the store's group the table appears.
    xct = measure_phases(synthetic_xct_labels(), 0.5, (8.0, 8.0, 8.0), n=3, seed=2)
    xct.attrs["degree"] = 0.35
    write_xct(xct, tmp_path / "xct.zarr")
    out2 = tmp_path / "report2"
    assert main(["report", str(store), "--xct", str(tmp_path / "xct.zarr"), "-o", str(out2)]) == 0
    html2 = (out2 / "index.html").read_text()
    assert "Comparison of scalar metrics" in html2 and (out2 / "fig1b_xct_subvolumes.png").is_file()
    assert "porosity" in (out2 / "comparison.csv").read_text()


def test_report_refuses_what_is_not_a_store(tmp_path, capsys):
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "r")]) == 2
    assert "not a mesosweep store" in capsys.readouterr().err
    sweep = tmp_path / "s.zarr"
    zarr.open_group(str(sweep), mode="w").attrs["mesosweep_version"] = "test"
    assert main(["report", str(sweep), "--xct", str(tmp_path / "none.zarr"), "-o",
                 str(tmp_path / "r")]) == 2
    assert "not a zarr store" in capsys.readouterr().err
