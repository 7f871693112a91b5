"""The whole pipeline for real: local Dask cluster, LAMMPS stages, zarr store, plain xarray."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mesosweep.cli import main
from tests.conftest import run_tiny_sweep

pytestmark = [pytest.mark.lammps, pytest.mark.slow]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """Run the tiny sweep once through the command line; share the store between tests."""
    root = tmp_path_factory.mktemp("sweep")
    return run_tiny_sweep(root), root


def test_sweep_exits_zero_and_every_realisation_is_done(swept):
    code, root = swept
    assert code == 0
    import xarray as xr

    ds = xr.open_zarr(root / "tiny.zarr")
    assert (ds.status.values == 2).all()  # flag 2 = done
    assert ds.status.attrs["flag_meanings"] == "queued running done failed"
    assert (ds.attempts.values == 1).all()
    assert (ds.stage_status.values == 2).all()  # every stage of every realisation done
    assert (ds.stage_steps.sel(stage="slurry").values > 0).all()
    # CF time units: xarray decodes the timestamps without anything of ours.
    assert np.issubdtype(ds.started_at.dtype, np.datetime64)
    assert (ds.finished_at.values > ds.started_at.values).all()
    # slurry, drying, and per degree a pressing and a release
    assert (ds.lammps_launches.values == 6).all()


def test_store_reads_with_plain_xarray_and_carries_units(swept):
    _, root = swept
    # A separate interpreter that imports xarray only: nothing of ours may be needed.
    code = """
import json, sys, xarray as xr
ds = xr.open_zarr(sys.argv[1])
ours = [m for m in sys.modules
        if m.split('.')[0] in ('mesosweep', 'stages', 'ensemble', 'analysis', 'cluster')]
print(json.dumps({"ours": ours, "dims": dict(ds.sizes),
                  "units": {v: ds[v].attrs.get("units")
                            for v in ("porosity", "thickness", "slurry_density", "springback")},
                  "porosity": ds.porosity.values.tolist(),
                  "spec": json.loads(ds.attrs["spec"])["sweep"]["name"],
                  "versions": sorted(json.loads(ds.attrs["versions"])),
                  "lammps": ds.attrs["lammps_version"]}))
"""
    # -W error: opening the store the plain way must not even warn.
    out = subprocess.run([sys.executable, "-W", "error", "-c", code, str(root / "tiny.zarr")],
                         capture_output=True, text=True, check=True)
    info = json.loads(out.stdout)
    assert info["ours"] == []
    assert info["dims"]["realisation"] == 2 and info["dims"]["degree"] == 3
    assert info["units"] == {"porosity": "1", "thickness": "um", "slurry_density": "g/cm^3",
                             "springback": "1"}
    assert info["spec"] == "tiny"
    assert "lammps" in info["versions"] and int(info["lammps"]) >= 20250722
    porosity = np.array(info["porosity"])
    assert np.isfinite(porosity).all() and ((porosity > 0.2) & (porosity < 0.9)).all()


JUNK = ("analysis", "stages", "ensemble", "cluster", "mesosweep")


def test_modules_in_the_working_folder_shadow_nothing(swept, tmp_path):
    """The same sweep started with the ``mesosweep`` command from a folder that holds
    ``analysis.py``, ``stages.py`` … (each would stop any interpreter that imported it) gives
    the same results, value for value: nothing of ours is imported from the working folder,
    in the driver, the Dask workers or the LAMMPS launches."""
    import xarray as xr

    from tests.conftest import TINY_SPEC

    for name in JUNK:
        (tmp_path / f"{name}.py").write_text('raise SystemExit("junk module imported")\n')
    (tmp_path / "tiny.toml").write_text(TINY_SPEC.format(output="tiny.zarr", ranks=1))
    command = [str(next(p for p in (Path(sys.executable).parent / "mesosweep",) if p.exists())),
               "run", "tiny.toml"]
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, text=True)
    _, root = swept
    ours, theirs = (xr.open_zarr(d / "tiny.zarr").load() for d in (root, tmp_path))
    assert (theirs.status.values == 2).all()
    for name in ("porosity", "thickness", "springback", "slurry_density", "tau_z", "seed",
                 "stage_steps"):
        assert np.array_equal(ours[name].values, theirs[name].values, equal_nan=True), name


def test_calendering_lowers_porosity_and_thickness(swept):
    _, root = swept
    import xarray as xr

    ds = xr.open_zarr(root / "tiny.zarr").load()
    mean = ds[["porosity", "thickness"]].mean("realisation")
    # Degrees are sorted: dried (0), then the spec's. Every calendered state is thinner, on the
    # ensemble mean, than the dried one, and the most compressed is less porous. Not asserted:
    # that 35 % ends thinner than 15 %. This film is ~1.5 secondaries thick, so at 35 % the plane
    # squeezes the secondaries themselves and they spring back elastically (springback 0.38 and
    # 0.54 measured), leaving the two degrees within noise; issue 4 is about exactly that.
    assert (mean.thickness.values[0][1:] < mean.thickness.values[0][0]).all()
    assert mean.porosity.sel(degree=0.35).item() < mean.porosity.sel(degree=0.0).item()
    # Pressing to 35 % leaves every realisation thinner than it dried.
    assert (ds.thickness.sel(degree=0.35) < ds.thickness.sel(degree=0.0)).all()


def test_rerun_resumes_without_launching_lammps(swept, capsys):
    code, root = swept
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    try:
        assert main(["run", str(root / "tiny.toml")]) == 0
    finally:
        mp.undo()
    assert "nothing to do" in capsys.readouterr().out


def test_summary_gives_mean_and_spread_and_a_dash_where_one_realisation_has_no_spread(swept):
    import xarray as xr

    from mesosweep.ensemble.runner import _mean_sd, summary_table

    _, root = swept
    rows = [line.split() for line in summary_table(root / "tiny.zarr").splitlines()
            if line.startswith("96-4")]
    assert [float(r[1]) for r in rows] == [0.0, 0.15, 0.35]
    ds = xr.open_zarr(root / "tiny.zarr")
    for row, deg in zip(rows, (0.0, 0.15, 0.35), strict=True):
        por = ds.porosity.sel(case="96-4", degree=deg).values
        assert int(row[2]) == 2
        assert float(row[3]) == pytest.approx(por.mean(), abs=5e-4)
        assert float(row[5]) == pytest.approx(por.std(ddof=1), abs=5e-4)
    one = _mean_sd(xr.DataArray([0.41, np.nan]), 8, 3)
    assert one.split() == ["0.410", "±", "-"]


def test_progress_reports_each_stage(swept):
    _, root = swept
    log = (root / "run.log").read_text()
    for stage in ("slurry", "drying", "pressing-0.15", "calendering-0.15", "pressing-0.35",
                  "calendering-0.35"):
        assert f"96-4/r0000 {stage}: done" in log
    # Every line on the terminal carries its time; the summary table follows its heading.
    first = log.splitlines()[0].split()
    assert len(first[0]) == 10 and first[0][4] == "-" and len(first[1]) == 8
    assert "summary of" in log and "porosity (mean ± sd)" in log
    # The driver log has it all, at every level, the stages' progress and events included.
    driver = (root / "tiny.work" / "driver.log").read_text()
    assert "96-4/r0000 drying: done" in driver and "StageDone label=96-4/r0000" in driver
    assert "store: created" in driver and "summary of" in driver


def test_same_seed_same_initial_structure(swept):
    _, root = swept
    work = root / "tiny.work" / "96-4"
    a = (work / "r0000" / "structure" / "structure.data").read_text()
    b = (work / "r0001" / "structure" / "structure.data").read_text()
    assert a != b  # different realisations draw different structures
    from mesosweep.ensemble.layout import RealisationLayout
    from mesosweep.ensemble.params import structure_params
    from mesosweep.ensemble.plan import plan
    from mesosweep.ensemble.spec import load_spec
    from mesosweep.stages import initial

    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    try:
        spec = load_spec(root / "tiny.toml")
    finally:
        mp.undo()
    real = plan(spec)[0]
    again = RealisationLayout(root / "again", real.label).stage_dir("structure")
    initial.build_inputs(structure_params(spec, real),
                         next((root / "tiny.work").glob("particles-*.npz")), again)
    assert (again / "structure.data").read_text() == a


def test_changed_spec_is_refused_with_a_diff(swept, capsys):
    _, root = swept
    changed = (root / "tiny.toml").read_text().replace("tolerance = 0.005", "tolerance = 0.004")
    (root / "changed.toml").write_text(changed.replace("workers = 2", "workers = 1"))
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    try:
        assert main(["run", str(root / "changed.toml")]) == 2
    finally:
        mp.undo()
    err = capsys.readouterr().err
    assert "numerics.tolerance: 0.005 in the store, 0.004 in the spec" in err
    assert "cluster.workers" not in err  # how the sweep runs may change freely


def test_extend_adds_a_realisation_and_a_degree_reusing_finished_stages(swept, capsys):
    """A deeper degree continues the deepest pressing: only its pressing and release run. (A
    degree between two others would change what the deeper pressings continue from, so their
    fingerprints, and rerun them: tests/test_reliability.py.)"""
    import xarray as xr

    _, root = swept
    before = xr.open_zarr(root / "tiny.zarr").load()
    work = root / "tiny.work" / "96-4"
    launches_before = (work / "r0000" / "launches.log").read_text().splitlines()
    grown = (root / "tiny.toml").read_text().replace("realisations = 2", "realisations = 3") \
        .replace("compression_degrees = [0.15, 0.35]", "compression_degrees = [0.15, 0.35, 0.4]")
    (root / "grown.toml").write_text(grown)
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    try:
        assert main(["run", str(root / "grown.toml")]) == 2  # growing needs --extend
        assert "--extend" in capsys.readouterr().err
        assert main(["run", str(root / "grown.toml"), "--extend"]) == 0
    finally:
        mp.undo()
    after = xr.open_zarr(root / "tiny.zarr").load()
    assert after.sizes["realisation"] == 3 and after.sizes["degree"] == 4
    assert (after.status.values == 2).all()
    old = before.sel(degree=[0.0, 0.15, 0.35])
    new = after.sel(realisation=[0, 1], degree=[0.0, 0.15, 0.35])
    assert np.array_equal(old.porosity.values, new.porosity.values)  # finished work reused
    relaunched = (work / "r0000" / "launches.log").read_text().splitlines()[len(launches_before):]
    # Only the new degree: its pressing (on from 0.35) and its release.
    assert sorted(line.split()[0].split("-")[0].lstrip(".") for line in relaunched) == [
        "calendering", "pressing"]
    assert np.isfinite(after.porosity.sel(degree=0.4).values).all()
    assert after.seed.sel(realisation=2).values.min() >= 1


def test_store_holds_every_metric_with_units_and_bin_edges(swept):
    import xarray as xr

    from mesosweep.analysis.summary import METRICS

    _, root = swept
    ds = xr.open_zarr(root / "tiny.zarr").load()
    for name, metric in METRICS.items():
        var = ds[name]
        assert var.dims == ("case", "realisation", "degree", *metric.dims), name
        assert var.attrs["units"] == metric.units and var.attrs["description"]
    # Every state (dried and calendered) has its metrics: finite porosity, tau > 1, profiles
    # that are volume fractions summing to one.
    assert np.isfinite(ds.porosity.values).all()
    assert (ds.tau_z.values > 1.0).all()
    total = ds.pore_profile + ds.am_profile + ds.cbd_profile
    assert np.allclose(total.values, 1.0, atol=1e-6)
    # CF bounds of the bins: an (n, 2) variable that the coordinate names.
    bounds = ds[ds.pore_radius_bin.attrs["bounds"]].values
    assert bounds.shape == (ds.sizes["pore_radius_bin"], 2)
    assert (bounds[:, 0] < ds.pore_radius_bin.values).all()
    assert (ds.pore_radius_bin.values < bounds[:, 1]).all()
    # Sphericity of the secondaries: between 0 and 1, tracked from dried to calendered.
    q = ds.sphericity_quantiles.values
    assert np.nanmin(q) > 0.0 and np.nanmax(q) <= 1.0
    assert np.isfinite(ds.deformation_mean.sel(degree=0.35).values).all()
