"""Tests for analysis.summary: the metrics table and one call on a small electrode."""

from __future__ import annotations

import numpy as np
import pytest

from mesosweep.analysis.phases import AM, CBD, PORE
from mesosweep.analysis.porosity import porosity
from mesosweep.analysis.summary import METRICS, electrode_metrics, metrics_table
from mesosweep.analysis.voxelise import voxelise


def _electrode(seed: int = 1, squash: float = 1.0):
    """A 15 x 15 x 15 um box at 0.25 um (60^3 voxels): 30 secondaries of 8 beads, CBD."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([0, 0, 2], [15, 15, 11], size=(30, 3))
    offsets = rng.normal(0.0, 0.7, size=(30, 8, 3))
    am = (centres[:, None, :] + offsets).reshape(-1, 3)
    am[:, 2] *= squash
    cbd = rng.uniform([0, 0, 0], [15, 15, 12 * squash], size=(200, 3))
    position = np.vstack([am, cbd])
    position[:, :2] %= 15.0
    diameter = np.r_[np.full(len(am), 1.6), np.full(len(cbd), 1.3)]
    phase = np.r_[np.full(len(am), AM), np.full(len(cbd), CBD)]
    particle = np.r_[np.repeat(np.arange(1, 31), 8), np.zeros(len(cbd), int)]
    return voxelise(position, diameter, phase, particle, [15.0, 15.0, 15.0], 0.25)


def test_table_declares_consistent_dims_units_and_coordinates():
    seen: dict[str, np.ndarray] = {}
    for name, metric in METRICS.items():
        assert metric.description and isinstance(metric.units, str), name
        assert set(metric.coords) == set(metric.dims), name
        for dim in metric.dims:
            coord = metric.coords[dim]
            assert len(coord.values) > 0
            if coord.edges is not None:  # histogram bins: centres between their edges
                assert len(coord.edges) == len(coord.values) + 1
                assert np.all(np.diff(coord.edges) > 0)
                assert np.allclose(coord.values, 0.5 * (coord.edges[1:] + coord.edges[:-1]))
            # One dimension name means one set of coordinate values everywhere.
            if dim in seen:
                assert np.array_equal(seen[dim], coord.values), dim
            seen[dim] = coord.values
    assert METRICS["tau_z"].units == "1" and METRICS["thickness"].units == "um"
    assert METRICS["pore_radius_histogram"].coords["pore_radius_bin"].edges[2] == 1.0
    assert metrics_table(8)["am_profile"].shape == (8,)


def test_one_state_returns_every_metric_in_its_declared_shape():
    phase, particle = _electrode()
    out = electrode_metrics(phase, particle, 0.25)
    assert list(out) == list(METRICS)
    for name, value in out.items():
        assert np.shape(value) == METRICS[name].shape, name
    assert out["porosity"] == pytest.approx(porosity(phase, cbd_as="pore"))
    for name in ("tau_z", "tau_x", "tau_z_cbd_solid", "tau_x_cbd_solid"):
        assert 1.0 <= out[name] < 10.0, name
    # Blocking CBD can only make transport harder.
    assert out["tau_z_cbd_solid"] >= out["tau_z"] and out["tau_x_cbd_solid"] >= out["tau_x"]
    profiles = out["pore_profile"] + out["am_profile"] + out["cbd_profile"]
    assert profiles == pytest.approx(np.ones(20))
    assert out["pore_count"] >= 1 and out["pore_radius_mean"] > 1.0
    assert np.all(np.diff(out["pore_radius_quantiles"]) >= 0)
    assert out["particle_count"] == 30
    assert out["sphericity_histogram"].sum() == 30
    assert out["orientation_histogram"].sum() == 30
    assert 0 < out["sphericity_quantiles"][0] <= out["sphericity_quantiles"][-1] <= 1
    assert np.all(np.isnan(out["deformation_mean"])) and np.isnan(out["rotation_mean"])


def test_reference_state_gives_deformation_and_rotation():
    phase, particle = _electrode()
    same = electrode_metrics(phase, particle, 0.25, reference_particle_image=particle)
    assert same["deformation_mean"] == pytest.approx(np.zeros(3), abs=1e-12)
    assert same["rotation_mean"] == pytest.approx(0.0, abs=1e-6)
    squashed_phase, squashed = _electrode(squash=0.8)
    out = electrode_metrics(squashed_phase, squashed, 0.25, reference_particle_image=particle)
    assert out["deformation_mean"].min() < -0.02  # some axis shortened by the squash


def test_cbd_convention_changes_porosity_and_pores_not_tau():
    phase, particle = _electrode()
    as_pore = electrode_metrics(phase, particle, 0.25, cbd_as="pore")
    as_solid = electrode_metrics(phase, particle, 0.25, cbd_as="solid")
    assert as_solid["porosity"] < as_pore["porosity"]
    assert as_solid["tau_z"] == as_pore["tau_z"]
    with pytest.raises(ValueError, match="cbd_as"):
        electrode_metrics(phase, particle, 0.25, cbd_as="third")
    with pytest.raises(ValueError, match="shape"):
        electrode_metrics(phase, particle[..., :-1], 0.25)
    assert PORE == 0


def test_interior_crop_uses_the_given_height():
    """An XCT crop whose top rows happen to be pore is still electrode: with ``height_um`` the
    whole crop counts, without it the measured top surface would cut it short."""
    import numpy as np

    from mesosweep.analysis.phases import AM, PORE
    from mesosweep.analysis.summary import electrode_metrics

    phase = np.full((12, 12, 20), PORE, np.uint8)
    phase[:, :, :10] = AM
    phase[::3, :, :10] = PORE  # channels through the solid half
    particles = np.where(phase == AM, 1, 0).astype(np.int32)
    measured = electrode_metrics(phase, particles, 0.5, periodic_xy=False)
    crop = electrode_metrics(phase, particles, 0.5, height_um=10.0, periodic_xy=False)
    assert measured["thickness"] < 5.0 and crop["thickness"] == 10.0
    solid = np.count_nonzero(phase == AM) / phase.size
    assert crop["porosity"] == pytest.approx(1.0 - solid)
    assert crop["porosity"] > measured["porosity"]


def test_pore_size_and_coordination_against_position_average_back_to_the_means():
    import numpy as np

    from mesosweep.analysis.summary import electrode_metrics

    phase, particles = _electrode(seed=3)
    out = electrode_metrics(phase, particles, 0.25)
    for profile, mean in (("pore_radius_profile", "pore_radius_mean"),
                          ("coordination_profile", "coordination_mean")):
        p = out[profile]
        assert p.shape == (20,) and np.isfinite(p).any()
        # Slab means bracket the overall mean of the same pores.
        assert np.nanmin(p) <= out[mean] + 1e-9 <= np.nanmax(p) + 2e-9
