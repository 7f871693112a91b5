"""Tests for analysis.tortuosity against analytic diffusion cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mesosweep.analysis.tortuosity import TortuosityResult, tortuosity_factor


def _channels(shape=(6, 6, 10), axis=2) -> np.ndarray:
    """Two straight one-voxel channels along ``axis`` in solid, at (1, 1) and (4, 3)."""
    mask = np.zeros(shape, dtype=bool)
    for across in ([1, 1], [4, 3]):
        index: list = list(across)
        index.insert(axis, slice(None))
        mask[tuple(index)] = True
    return mask


def test_straight_channels_have_tau_one():
    mask = _channels()
    result = tortuosity_factor(mask)
    assert result.percolating
    assert result.tau == pytest.approx(1.0, abs=1e-6)
    assert result.volume_fraction == pytest.approx(20 / 360)
    assert result.effective_diffusivity == pytest.approx(result.volume_fraction, rel=1e-6)


def test_series_layers_give_harmonic_mean():
    d = np.ones((3, 3, 10))
    d[..., :4] = 0.2  # 4 layers of D1 = 0.2, then 6 of D2 = 1, in series along z
    result = tortuosity_factor(d, rtol=1e-10)
    assert result.effective_diffusivity == pytest.approx(10 / (4 / 0.2 + 6 / 1.0), rel=1e-8)
    assert result.volume_fraction == 1.0
    assert result.iterations > 0


def test_parallel_layers_give_arithmetic_mean():
    d = np.ones((10, 3, 5))
    d[:4] = 0.2  # layers normal to x, so parallel to the z transport axis
    result = tortuosity_factor(d, rtol=1e-10)
    assert result.effective_diffusivity == pytest.approx((4 * 0.2 + 6 * 1.0) / 10, rel=1e-8)


def test_partly_conducting_phase_counts_in_eps_and_tau():
    # Convention: eps counts every voxel with D > 0 and D0 = 1, so a channel of D = 0.5
    # has D_eff = 0.5 eps and tau = 2.
    d = 0.5 * _channels().astype(float)
    result = tortuosity_factor(d)
    assert result.tau == pytest.approx(2.0, rel=1e-6)


def test_in_plane_axis():
    result = tortuosity_factor(_channels(shape=(10, 6, 6), axis=0), axis=0)
    assert result.axis == 0 and result.tau == pytest.approx(1.0, abs=1e-6)


def test_dead_end_pore_is_infinite_with_warning():
    mask = _channels()
    mask[..., 8:] = False  # both channels start at the inlet and stop two layers short
    with pytest.warns(RuntimeWarning, match="no conducting path"):
        result = tortuosity_factor(mask)
    assert result.tau == np.inf and result.effective_diffusivity == 0.0
    assert not result.percolating and result.iterations == 0
    assert result.volume_fraction > 0


def test_channels_along_z_do_not_percolate_along_x():
    with pytest.warns(RuntimeWarning):
        assert tortuosity_factor(_channels(), axis=0).tau == np.inf


def test_isolated_pores_count_in_eps_but_carry_no_flux():
    mask = _channels()
    with_pocket = mask.copy()
    with_pocket[3:5, 0:2, 2:6] = True  # touches neither a channel nor a face
    base = tortuosity_factor(mask)
    pocket = tortuosity_factor(with_pocket)
    assert pocket.effective_diffusivity == pytest.approx(base.effective_diffusivity)
    assert pocket.volume_fraction > base.volume_fraction
    assert pocket.tau > base.tau


def test_tau_converges_under_refinement_towards_maxwell():
    # Insulating sphere (radius 0.3 L) centred in a cube: with no-flux sides this is a
    # simple cubic array, for which Maxwell gives tau = 1 + phi / 2 at this dilution.
    taus = []
    for n in (10, 20, 40):
        centre = (np.arange(n) + 0.5) / n - 0.5
        x, y, z = np.meshgrid(centre, centre, centre, indexing="ij")
        taus.append(tortuosity_factor(x**2 + y**2 + z**2 > 0.3**2, rtol=1e-8).tau)
    assert abs(taus[2] - taus[1]) < 0.5 * abs(taus[1] - taus[0])
    phi = 4 / 3 * np.pi * 0.3**3
    assert taus[2] == pytest.approx(1 + phi / 2, rel=0.02)
    assert all(t > 1 for t in taus)


def test_result_is_frozen_and_input_validated():
    result = tortuosity_factor(_channels())
    assert isinstance(result, TortuosityResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.tau = 2.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="diffusivity"):
        tortuosity_factor(-np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="axis"):
        tortuosity_factor(np.ones((2, 2, 2)), axis=3)


# --------------------------------------------------------------------------- multigrid solver


def _reference_d_eff(d: np.ndarray, axis: int) -> float:
    """D_eff of the same finite-volume model, assembled edge by edge and solved directly."""
    from scipy import ndimage
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    d = np.moveaxis(d, axis, 0)
    labels, _ = ndimage.label(d > 0)
    spanning = np.intersect1d(labels[0][labels[0] > 0], labels[-1][labels[-1] > 0])
    keep = np.isin(labels, spanning)
    number = -np.ones(d.shape, dtype=np.int64)
    number[keep] = np.arange(keep.sum())
    n = int(keep.sum())
    rows, cols, vals = [], [], []
    diag = np.zeros(n)
    for idx in zip(*np.nonzero(keep), strict=True):
        for ax in range(3):
            nb = list(idx)
            nb[ax] += 1
            if nb[ax] < d.shape[ax] and keep[tuple(nb)]:
                i, j = number[idx], number[tuple(nb)]
                g = 2 * d[idx] * d[tuple(nb)] / (d[idx] + d[tuple(nb)])
                rows += [i, j]
                cols += [j, i]
                vals += [-g, -g]
                diag[i] += g
                diag[j] += g
    rhs = np.zeros(n)
    first, last = number[0][keep[0]], number[-1][keep[-1]]
    diag[first] += 2 * d[0][keep[0]]
    diag[last] += 2 * d[-1][keep[-1]]
    rhs[first] = 2 * d[0][keep[0]]
    a = coo_matrix((vals + list(diag), (rows + list(range(n)), cols + list(range(n)))), (n, n))
    c = spsolve(a.tocsc(), rhs)
    flux = float(np.sum(2 * d[0][keep[0]] * (1 - c[first])))
    return flux * d.shape[0] / (d.shape[1] * d.shape[2])


def _three_phase(shape=(23, 19, 17), seed=3) -> np.ndarray:
    """Random pore (1) / CBD (0.3) / solid (0) voxels, odd sizes to test the block padding."""
    rng = np.random.default_rng(seed)
    return rng.choice([0.0, 0.3, 1.0], size=shape, p=[0.3, 0.2, 0.5])


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("coarsest", [50, 3000])
def test_random_three_phase_medium_matches_a_direct_solve(axis, coarsest, monkeypatch):
    # A small coarsest size forces a deep hierarchy (4+ levels) on a small image.
    import mesosweep.analysis.tortuosity as module

    monkeypatch.setattr(module, "_COARSEST_SIZE", coarsest)
    d = _three_phase()
    result = tortuosity_factor(d, axis=axis, rtol=1e-10)
    assert result.percolating
    assert result.effective_diffusivity == pytest.approx(_reference_d_eff(d, axis), rel=1e-8)
    assert result.volume_fraction == pytest.approx(np.count_nonzero(d) / d.size)


def test_loose_tolerance_gives_an_upper_bound_within_rtol():
    # D_eff comes from the dissipation of the approximate field, which can only be too high.
    d = _three_phase((40, 30, 30), seed=5)
    exact = tortuosity_factor(d, rtol=1e-11)
    loose = tortuosity_factor(d, rtol=1e-2)
    assert loose.iterations < exact.iterations
    assert exact.effective_diffusivity <= loose.effective_diffusivity
    assert loose.effective_diffusivity <= exact.effective_diffusivity * (1 + 1e-2)


def test_iteration_cap_warns_and_still_bounds_tau_from_below():
    d = _three_phase((40, 30, 30), seed=5)
    exact = tortuosity_factor(d, rtol=1e-11)
    with pytest.warns(RuntimeWarning, match="before reaching"):
        capped = tortuosity_factor(d, rtol=1e-11, maxiter=1)
    assert capped.iterations == 1
    assert 0 < capped.tau <= exact.tau


def test_iteration_count_does_not_grow_with_image_length():
    # Jacobi-CG needs iterations in proportion to the length; the multigrid cycle does not.
    counts = []
    for length in (32, 128):
        d = np.tile(_three_phase((8, 16, 16), seed=7), (length // 8, 1, 1))
        counts.append(tortuosity_factor(d, axis=0, rtol=1e-8).iterations)
    assert counts[1] <= counts[0] + 5
