"""`mesosweep export`: a realisation's state as a labelled image, an OpenPNM network and
LAMMPS dumps, on the tiny sweep's store."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import tifffile

from mesosweep.cli import main
from mesosweep.ensemble.layout import SweepLayout
from mesosweep.stages.lammps_data import read_data
from mesosweep.stages.measure import voxel_images
from tests.conftest import TINY_SPEC
from tests.test_report import tiny_sweep_store

pytestmark = [pytest.mark.lammps, pytest.mark.slow]  # the tiny sweep, shared with test_report


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    store = tiny_sweep_store(tmp_path_factory)
    out = tmp_path_factory.mktemp("export") / "r0-35"
    assert main(["export", str(store), "--case", "96-4", "--realisation", "0",
                 "--degree", "0.35", "-o", str(out)]) == 0
    return store, out


def _network_from_csv(path):
    """What openpnm.io.network_from_csv does with the file: columns name[k] merged into one
    array, each property cut at the first empty row of pore.coords or throat.conns."""
    table = pd.read_csv(path, skipinitialspace=True)
    merged = {}
    for name in table.columns:
        base = re.sub(r"\[\d\]$", "", name)
        merged.setdefault(base, []).append(table[name].to_numpy())
    arrays = {k: np.column_stack(v) if len(v) > 1 else v[0] for k, v in merged.items()}
    np_, nt = (int(np.flatnonzero(np.isnan(np.atleast_2d(arrays[k].T)[0]))[0])
               if np.isnan(arrays[k]).any() else len(arrays[k])
               for k in ("pore.coords", "throat.conns"))
    return {k: v[: np_ if k.startswith("pore.") else nt] for k, v in arrays.items()}


def test_the_labelled_image_is_the_state_the_metrics_measured(exported):
    store, out = exported
    meta = json.loads((out / "export.json").read_text())
    real = SweepLayout(store).realisation("96-4", 0)
    assert meta["state_file"] == str(real.final_state(0.35)) and meta["status"] == "done"
    phase, particles = voxel_images(read_data(real.final_state(0.35)), meta["voxel_size_um"])
    np.testing.assert_array_equal(np.load(out / "phase.npy"), phase)
    np.testing.assert_array_equal(np.load(out / "particles.npy"), particles)
    assert set(np.unique(phase)) <= {0, 1, 2} and meta["labels"] == {"0": "pore", "1": "AM",
                                                                     "2": "CBD"}
    assert not particles[phase != 1].any() and particles[phase == 1].all()
    with tifffile.TiffFile(out / "phase.tif") as tif:
        stack = tif.asarray()
        assert tif.imagej_metadata["spacing"] == meta["voxel_size_um"]
        assert tif.imagej_metadata["unit"] == "um"
    assert stack.shape == phase.shape[::-1]  # a page per z slice, each [y, x]
    np.testing.assert_array_equal(stack, phase.transpose(2, 1, 0))
    np.testing.assert_array_equal(tifffile.imread(out / "particles.tif"),
                                  particles.transpose(2, 1, 0))


def test_the_pore_network_is_in_the_form_openpnm_loads(exported):
    _, out = exported
    meta = json.loads((out / "export.json").read_text())
    npz = dict(np.load(out / "pore_network.npz"))
    csv = _network_from_csv(out / "pore_network.csv")
    assert set(npz) == set(csv) == {"pore.coords", "pore.diameter", "pore.volume",
                                    "throat.conns", "throat.diameter",
                                    "throat.cross_sectional_area"}
    for name, values in npz.items():
        np.testing.assert_allclose(csv[name], values, rtol=1e-12, err_msg=name)
    n_pores, n_throats = meta["pore_network"]["pores"], meta["pore_network"]["throats"]
    assert npz["pore.coords"].shape == (n_pores, 3) and npz["throat.conns"].shape == (n_throats, 2)
    assert n_pores > 1 and n_throats > 0
    assert npz["throat.conns"].min() >= 0 and npz["throat.conns"].max() < n_pores
    # SI units: pores of a few um inside an image of meta's shape.
    extent = np.array(meta["shape_xyz"]) * meta["voxel_size_um"] * 1e-6
    assert (npz["pore.coords"] > 0).all() and (npz["pore.coords"] < extent).all()
    assert 1e-8 < np.median(npz["pore.diameter"]) < 1e-5
    # The volume-equivalent diameter and the volume agree.
    np.testing.assert_allclose(np.pi / 6 * npz["pore.diameter"] ** 3, npz["pore.volume"])


def test_each_stage_that_led_to_the_state_has_a_dump_for_ovito(exported):
    store, out = exported
    real = SweepLayout(store).realisation("96-4", 0)
    names = {p.stem for p in (out / "dump").glob("*.dump")}
    assert names == {"structure", "slurry", "drying", "pressing-0.35", "calendering-0.35"}
    for name, boundary in (("slurry", "pp pp pp"), ("calendering-0.35", "pp pp ff")):
        stage, _, degree = name.partition("-")
        state = read_data(real.state_file(stage, float(degree) if degree else None))
        lines = (out / "dump" / f"{name}.dump").read_text().splitlines()
        assert lines[0] == "ITEM: TIMESTEP" and int(lines[1]) > 0
        assert lines[2:4] == ["ITEM: NUMBER OF ATOMS", str(state.n)]
        assert lines[4] == f"ITEM: BOX BOUNDS {boundary}"
        box = np.array([line.split() for line in lines[5:8]], dtype=float)
        np.testing.assert_allclose(box, np.column_stack([state.box_lo, state.box_hi]))
        assert lines[8] == "ITEM: ATOMS id type mol x y z ix iy iz radius"
        atoms = np.array([line.split() for line in lines[9:]], dtype=float)
        assert atoms.shape == (state.n, 10)
        np.testing.assert_allclose(atoms[:, 3:6], state.position_um, rtol=1e-9)
        np.testing.assert_allclose(atoms[:, 9], state.diameter_um / 2, rtol=1e-9)


def test_requests_the_store_cannot_answer_are_refused(exported, tmp_path, capsys):
    store, out = exported
    base = ["export", str(store), "--realisation", "0", "-o", str(tmp_path / "x")]
    assert main([*base, "--case", "90-10", "--degree", "0"]) == 2
    assert "its cases: 96-4" in capsys.readouterr().err
    assert main([*base, "--case", "96-4", "--degree", "0.2"]) == 2
    assert "its degrees: 0, 0.15, 0.35" in capsys.readouterr().err
    assert main(["export", str(store), "--case", "96-4", "--realisation", "7", "--degree", "0",
                 "-o", str(tmp_path / "x")]) == 2
    assert "holds 0 … 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # nothing written for a refused request
    assert main(["export", str(store), "--case", "96-4", "--realisation", "0", "--degree",
                 "0.35", "-o", str(out)]) == 2
    assert "already holds an export" in capsys.readouterr().err
    # The spec names the store; the dried film (degree 0) needs no calendering.
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_SPEC.format(output=str(store), ranks=1))
    assert main(["export", str(spec), "--case", "96-4", "--realisation", "1", "--degree", "0",
                 "-o", str(tmp_path / "dried")]) == 0
    assert {p.stem for p in (tmp_path / "dried" / "dump").glob("*.dump")} == {
        "structure", "slurry", "drying"}
