"""XCT sub-volumes measured like the simulations: synthetic volumes, the CLI, the NREL volume."""

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from mesosweep.analysis.metric_table import METRICS
from mesosweep.analysis.xct import check_request, measure_phases
from mesosweep.cli import main
from mesosweep.ensemble.xct_store import measure_file, open_xct, write_xct

NREL = Path(__file__).resolve().parents[2] / "shared" / "data" / "nrel-nmc-1-cal-bridge.tif"


def _labels(shape=(48, 48, 36), seed=0) -> np.ndarray:
    """A label volume: 0 pore, 1 AM spheres (radius 4-6 voxels), 2 CBD specks."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).reshape(3, -1).T
    labels = np.zeros(shape, dtype=np.uint8)
    flat = labels.reshape(-1)
    for _ in range(40):
        centre = rng.uniform(0, shape)
        radius = rng.uniform(4, 6)
        flat[((grid - centre) ** 2).sum(axis=1) <= radius**2] = 1
    specks = (rng.random(shape) < 0.08) & (labels == 0)
    labels[specks] = 2
    return labels


def _phases(labels: np.ndarray) -> np.ndarray:
    return labels.copy()  # labels 0/1/2 are already PORE/AM/CBD


def test_measure_phases_gives_the_simulation_names_and_units():
    phases = _phases(_labels())
    ds = measure_phases(phases, 0.5, (12.0, 12.0, 10.0), n=3, seed=5)
    again = measure_phases(phases, 0.5, (12.0, 12.0, 10.0), n=3, seed=5)
    for name, metric in METRICS.items():
        assert ds[name].dims == ("subvolume", *metric.dims)
        assert ds[name].attrs["units"] == metric.units and ds[name].attrs["description"]
    assert ds.sizes["subvolume"] == 3
    assert np.array_equal(ds["origin"].values, again["origin"].values)
    assert np.allclose(ds["porosity"].values, again["porosity"].values)
    assert np.all((ds["porosity"] > 0) & (ds["porosity"] < 1))
    assert int(ds["representative"].sum()) == 1 and ds.attrs["representative"] in range(3)
    assert json.loads(ds.attrs["subvolume_shape_vox"]) == [24, 24, 20]
    bounds = ds.pore_radius_bin.attrs["bounds"]
    assert bounds in ds.coords and ds[bounds].dims == ("pore_radius_bin", "bounds")
    assert ds[bounds].attrs["units"] == "um" and ds.attrs["Conventions"].startswith("CF-")
    for var in ds.variables.values():
        if var.dims and var.dims[0] == "subvolume" and var.dtype.kind == "f":
            assert "units" in var.attrs


def test_bad_requests_are_refused_before_any_work(tmp_path):
    phases = _phases(_labels((30, 30, 20)))
    with pytest.raises(ValueError, match="larger than the volume"):
        check_request(phases, (10, 10, 25), 3, overlap=True)
    with pytest.raises(ValueError, match="at most 9"):
        check_request(phases, (10, 10, 20), 10, overlap=False)
    with pytest.raises(ValueError, match="no pore"):
        check_request(np.ones((10, 10, 10), np.uint8), (5, 5, 5), 1, overlap=True)
    path = tmp_path / "vol.npy"
    np.save(path, _labels((30, 30, 20)))
    with pytest.raises(ValueError, match=r"cbd label\(s\) \[7\] not present"):
        measure_file(path, 0.5, size_um=(5, 5, 5), am=1, cbd=7, n=2)


def test_write_into_a_sweep_store_group_and_a_store_of_its_own(tmp_path):
    ds = measure_phases(_phases(_labels((36, 36, 24))), 0.5, (8.0, 8.0, 8.0), n=2, seed=1)
    sweep = tmp_path / "sweep.zarr"
    root = zarr.open_group(str(sweep), mode="w")
    root.attrs["mesosweep_version"] = "test"
    assert write_xct(ds, sweep) == "xct"
    back = xr.open_zarr(sweep, group="xct")
    assert back["porosity"].attrs["units"] == "1" and back.sizes["subvolume"] == 2
    with pytest.raises(FileExistsError, match="already holds a group 'xct'"):
        write_xct(ds, sweep)
    assert open_xct(sweep).sizes["subvolume"] == 2
    own = tmp_path / "xct.zarr"
    assert write_xct(ds, own) is None
    assert np.allclose(xr.open_zarr(own)["tau_z"].values, ds["tau_z"].values)


def test_cli_measure_and_its_errors(tmp_path, capsys):
    vol = tmp_path / "vol.npy"
    np.save(vol, _labels((36, 36, 24)))
    out = tmp_path / "x.zarr"
    base = ["xct", "measure", str(vol), "--voxel-size-um", "0.5", "--am-label", "1",
            "--cbd-label", "2"]
    assert main(base + ["--size-um", "30", "8", "8", "-n", "2", "-o", str(out)]) == 2
    assert "larger than the volume" in capsys.readouterr().err and not out.exists()
    assert main(base + ["--size-um", "9", "9", "12", "--no-overlap", "-n", "5",
                        "-o", str(out)]) == 2
    assert "at most 4" in capsys.readouterr().err and not out.exists()
    assert main(base + ["--size-um", "8", "8", "-n", "2", "-o", str(out)]) == 2
    assert "X Y Z" in capsys.readouterr().err
    assert main(base + ["--size-um", "8", "8", "--full-thickness", "-n", "2", "--degree", "0.3",
                        "-o", str(out)]) == 0
    ds = xr.open_zarr(out)
    assert ds.attrs["degree"] == 0.3 and json.loads(ds.attrs["subvolume_shape_vox"])[2] == 24
    assert "porosity" in capsys.readouterr().out


@pytest.mark.skipif(not NREL.is_file(), reason=f"real XCT volume not found at {NREL} "
                    "(shared/data beside the checkout)")
def test_nrel_volume_sub_volumes(tmp_path, capsys):
    out = tmp_path / "nrel.zarr"
    assert main(["xct", "measure", str(NREL), "--voxel-size-um", "0.398", "--am-label", "1",
                 "--cbd-label", "2", "--size-um", "12", "12", "12", "-n", "3", "--seed", "3",
                 "--degree", "0.3", "-o", str(out)]) == 0
    ds = xr.open_zarr(out)
    assert set(METRICS) <= set(ds.data_vars)
    assert ds.attrs["source_sha256"] and ds.attrs["voxel_size_um"] == 0.398
    # The volume holds 40 % pore and 10 % CBD: small sub-volumes scatter around 50 %.
    assert np.all((ds["porosity"] > 0.15) & (ds["porosity"] < 0.85))
    assert np.all((ds["tau_z"] >= 1) & np.isfinite(ds["tau_z"]))
    assert ds["tau_z_cbd_solid"].mean() >= ds["tau_z"].mean()
    assert int(ds["representative"].sum()) == 1
    assert "representative sub-volume" in capsys.readouterr().out
