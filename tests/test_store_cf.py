"""The store follows the CF conventions that tools read: long_name and units on every
variable, Conventions, bounds variables for the bins; so xarray's plots label themselves."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from mesosweep.analysis.compare import bin_edges, compare_distributions  # noqa: E402
from mesosweep.analysis.metric_table import METRICS  # noqa: E402
from mesosweep.ensemble import store  # noqa: E402
from mesosweep.ensemble.plan import plan  # noqa: E402
from mesosweep.ensemble.spec import load_spec  # noqa: E402
from tests.conftest import TINY_SPEC  # noqa: E402


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("cf")
    spec_file = root / "tiny.toml"
    spec_file.write_text(TINY_SPEC.format(output=str(root / "tiny.zarr"), ranks=1))
    spec = load_spec(spec_file)
    store.create(spec.sweep.output, spec, plan(spec), "20250722")
    group = store.writer(spec.sweep.output)
    # Two realisations' porosity, as the workers would write them.
    for r, values in enumerate(([0.51, 0.46, 0.45], [0.52, 0.47, 0.44])):
        store.write_realisation(group, 0, r, {"porosity": np.array(values)})
    return xr.open_zarr(spec.sweep.output)


def test_every_variable_and_coordinate_has_a_long_name_and_the_dataset_its_conventions(ds):
    assert ds.attrs["Conventions"].startswith("CF-")
    missing = [name for name, var in ds.variables.items() if not var.attrs.get("long_name")]
    assert missing == []
    for name, metric in METRICS.items():
        assert ds[name].attrs["long_name"] == metric.long_name
        assert ds[name].attrs["units"] == metric.units
    # Numbers have units; labels (case names, streams) have none rather than an empty one.
    assert ds.degree.attrs["units"] == "1" and "units" not in ds.case.attrs


def test_bins_have_cf_bounds_that_the_analysis_reads(ds):
    for metric in METRICS.values():
        for dim in metric.dims:
            edges = metric.coords[dim].edges
            if edges is None:
                assert "bounds" not in ds[dim].attrs
                continue
            bounds = ds[ds[dim].attrs["bounds"]]
            assert bounds.dims == (dim, "bounds")
            assert bounds.attrs["units"] == ds[dim].attrs["units"]
            np.testing.assert_array_equal(bounds.values[:, 0], edges[:-1])
            np.testing.assert_array_equal(bounds.values[:, 1], edges[1:])
            np.testing.assert_array_equal(bin_edges(ds, dim), edges)
    # The old paired coordinates are gone: one way to say where a bin ends.
    assert not [c for c in ds.coords if str(c).endswith(("_lower", "_upper"))]


def test_plots_label_themselves(ds):
    line = ds.porosity.isel(case=0, realisation=0).plot()
    axes = line[0].axes
    assert axes.get_xlabel() == "compression degree [1]"
    assert axes.get_ylabel() == "porosity [1]"
    plt.close("all")
    profile = ds.pore_radius_histogram.isel(case=0, realisation=0, degree=0).plot()
    assert profile[0].axes.get_xlabel() == "pore equivalent radius [um]"
    plt.close("all")


def test_distribution_limits_use_the_bounds():
    """A lower limit keeps the bins whose upper edge (from the bounds) lies above it."""
    edges = np.linspace(0.0, 1.0, 11)
    centres = 0.5 * (edges[1:] + edges[:-1])
    coords = {"sphericity_bin": ("sphericity_bin", centres, {"bounds": "sphericity_bin_bounds"}),
              "sphericity_bin_bounds": (("sphericity_bin", "bounds"),
                                        np.stack([edges[:-1], edges[1:]], axis=1))}
    counts = np.arange(1, 11, dtype=float)
    sim = xr.Dataset({"sphericity_histogram": (("case", "realisation", "degree",
                                                "sphericity_bin"),
                                               np.tile(counts, (1, 3, 1, 1)))},
                     coords={**coords, "case": ["c"], "realisation": [0, 1, 2], "degree": [0.0]})
    xct = xr.Dataset({"sphericity_histogram": (("subvolume", "sphericity_bin"),
                                               np.tile(counts, (4, 1)))},
                     coords={**coords, "subvolume": np.arange(4)})
    out = compare_distributions(sim, xct, lower_limits={"sphericity_histogram": 0.5})
    kept = counts[edges[1:] > 0.5].sum()  # the upper half of the bins
    assert float(out["sphericity_histogram"].sel(statistic="sim_values").squeeze()) == 3 * kept
    assert float(out["sphericity_histogram"].sel(statistic="xct_values").squeeze()) == 4 * kept
