"""Comparison statistics on synthetic data with known answers."""

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from mesosweep.analysis.compare import (
    COMPARISON,
    compare,
    compare_distributions,
    comparison_table,
    metric_names,
    realisations_needed,
    select_done,
    summarise,
    welch,
)

EDGES = np.linspace(0.0, 1.0, 21)


def _sim(porosity: np.ndarray, hist: np.ndarray | None = None, status=None) -> xr.Dataset:
    """A store-like dataset: porosity (case, realisation, degree) and optional histograms."""
    n_case, n_real, n_deg = porosity.shape
    coords = {"case": [f"c{i}" for i in range(n_case)], "realisation": np.arange(n_real),
              "degree": np.linspace(0.0, 0.3, n_deg)}
    data = {"porosity": (("case", "realisation", "degree"), porosity,
                         {"units": "1", "description": "pore fraction"}),
            "status": (("case", "realisation"),
                       np.full((n_case, n_real), 2, np.int8) if status is None else status),
            "thickness": (("case", "realisation", "degree"), np.ones_like(porosity),
                          {"units": "um"})}
    if hist is not None:
        data["sphericity_histogram"] = (("case", "realisation", "degree", "sphericity_bin"), hist,
                                        {"units": "1"})
        coords["sphericity_bin"] = ("sphericity_bin", 0.5 * (EDGES[1:] + EDGES[:-1]),
                                    {"bounds": "sphericity_bin_bounds"})
        coords["sphericity_bin_bounds"] = (("sphericity_bin", "bounds"),
                                           np.stack([EDGES[:-1], EDGES[1:]], axis=1))
    return xr.Dataset(data, coords=coords)


def _xct(porosity: np.ndarray, hist: np.ndarray | None = None) -> xr.Dataset:
    data = {"porosity": (("subvolume",), porosity, {"units": "1"}),
            "thickness": (("subvolume",), np.ones_like(porosity), {"units": "um"})}
    coords = {"subvolume": np.arange(porosity.size)}
    if hist is not None:
        data["sphericity_histogram"] = (("subvolume", "sphericity_bin"), hist, {"units": "1"})
        coords["sphericity_bin"] = 0.5 * (EDGES[1:] + EDGES[:-1])
    return xr.Dataset(data, coords=coords, attrs={"degree": 0.3})


def _hist(rng, units: int, per_unit: int, a: float, b: float) -> np.ndarray:
    """Counts per sphericity bin of beta(a, b) samples, one row per unit."""
    return np.stack([np.histogram(rng.beta(a, b, per_unit), EDGES)[0] for _ in range(units)])


def test_summary_interval_covers_the_true_mean_at_its_level():
    rng = np.random.default_rng(1)
    # 600 independent ensembles of 8 realisations with true mean 0.4, sd 0.03.
    por = rng.normal(0.4, 0.03, size=(600, 8, 1))
    s = summarise(_sim(por), "realisation", level=0.9)["porosity"]
    assert list(s.statistic.values) == ["n", "mean", "sd", "ci_low", "ci_high"]
    covered = (s.sel(statistic="ci_low") <= 0.4) & (s.sel(statistic="ci_high") >= 0.4)
    assert 0.86 <= float(covered.mean()) <= 0.94
    one = s.isel(case=0, degree=0)
    half = stats.t.ppf(0.95, 7) * por[0, :, 0].std(ddof=1) / math.sqrt(8)
    assert float(one.sel(statistic="ci_high") - one.sel(statistic="mean")) == pytest.approx(half)
    assert s.attrs["level"] == 0.9 and s.attrs["sample_dim"] == "realisation"


def test_welch_matches_scipy_and_hand_interval():
    a = np.array([0.51, 0.55, 0.49, 0.53, 0.50])
    b = np.array([0.40, 0.47, 0.43, 0.39, 0.45, 0.44, 0.42])
    w = welch(a.mean(), a.std(ddof=1), a.size, b.mean(), b.std(ddof=1), b.size, level=0.95)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert float(w["t"]) == pytest.approx(ref.statistic)
    assert float(w["p_value"]) == pytest.approx(ref.pvalue)
    va, vb = a.var(ddof=1) / 5, b.var(ddof=1) / 7
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 6)
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert float(w["df"]) == pytest.approx(df)
    assert float(w["ci_low"]) == pytest.approx(a.mean() - b.mean() - half)
    # Fewer than two values: no test.
    assert np.isnan(welch(0.5, np.nan, 1, 0.4, 0.1, 5)["p_value"])


def test_welch_from_summary_numbers_matches_scipy_over_many_cases():
    """The comparison works from means, sds and sizes (what the store's summaries hold):
    scipy's ttest_ind_from_stats, given the same numbers, agrees on t and p everywhere."""
    rng = np.random.default_rng(11)
    shape = (40,)
    ma, mb = rng.normal(0.4, 0.05, shape), rng.normal(0.4, 0.05, shape)
    sa, sb = rng.uniform(0.005, 0.05, shape), rng.uniform(0.005, 0.05, shape)
    na, nb = rng.integers(2, 30, shape), rng.integers(2, 30, shape)
    w = welch(ma, sa, na, mb, sb, nb)
    ref = stats.ttest_ind_from_stats(ma, sa, na, mb, sb, nb, equal_var=False)
    np.testing.assert_allclose(w["t"], ref.statistic, rtol=1e-12)
    np.testing.assert_allclose(w["p_value"], ref.pvalue, rtol=1e-9)
    np.testing.assert_allclose(w["difference"], ma - mb)


def test_compare_rejects_a_real_difference_and_accepts_none():
    rng = np.random.default_rng(2)
    xct = _xct(rng.normal(0.40, 0.02, 20))
    # 400 ensembles from the same distribution: about 5 % rejections at alpha = 5 %.
    same = compare(_sim(rng.normal(0.40, 0.02, size=(400, 6, 1))), xct)["porosity"]
    p = same.sel(statistic="p_value")
    assert 0.02 <= float((p < 0.05).mean()) <= 0.10
    # A difference of four sds: every ensemble rejects, and the interval covers the truth
    # (up to the sampling error of the experimental mean, 0.02/sqrt(20) = 0.0045).
    shifted = compare(_sim(rng.normal(0.48, 0.02, size=(50, 6, 1))), xct)["porosity"]
    assert float(shifted.sel(statistic="p_value").max()) < 0.01
    lo, hi = shifted.sel(statistic="difference_ci_low"), shifted.sel(statistic="difference_ci_high")
    assert float(((lo <= 0.08 + 0.01) & (hi >= 0.08 - 0.01)).mean()) > 0.9


def test_compare_layout_units_and_unfinished_realisations():
    rng = np.random.default_rng(3)
    por = rng.normal(0.4, 0.02, size=(2, 5, 3))
    status = np.full((2, 5), 2, np.int8)
    status[0, 4] = 3  # failed: its (made-up) value must not count
    por[0, 4, :] = 9.0
    sim = _sim(por, status=status)
    assert float(select_done(sim)["porosity"].isel(case=0, realisation=4, degree=0).isnull())
    xct = _xct(rng.normal(0.4, 0.02, 12))
    assert metric_names(sim, xct) == ["porosity"]  # thickness is chosen, not measured
    cmp = compare(sim, xct, difference={"porosity": 0.03})
    da = cmp["porosity"]
    assert da.dims == ("statistic", "case", "degree")
    assert list(da.statistic.values) == list(COMPARISON)
    assert da.attrs["units"] == "1"
    assert float(da.sel(statistic="sim_n", case="c0", degree=0.0)) == 4
    assert float(da.sel(statistic="sim_mean", case="c0").max()) < 1
    # The experimental numbers are the same for every case and degree.
    assert np.all(da.sel(statistic="xct_n") == 12)
    assert np.ptp(da.sel(statistic="xct_mean").values) == 0
    assert np.all(da.sel(statistic="delta") == 0.03)
    assert np.all(np.isfinite(da.sel(statistic="realisations_needed")))
    table = comparison_table(cmp)
    assert len(table) == 6
    assert {"metric", "units", "case", "degree", "p_value"} <= set(table.columns)
    assert cmp.attrs["experiment_degree"] == 0.3


def test_sample_size_against_hand_computation():
    z = 1.959964 + 0.841621  # z(0.975) + z(0.80)
    # Experimental error negligible: n = (z s / delta)^2 = (2.801585 / 0.5)^2 = 31.40 -> 32.
    assert realisations_needed(1.0, 0.5, method="normal") == 32
    # With 20 sub-volumes of sd 1: n = 1 / ((1/z)^2 - 1/20) = 1 / 0.077405 = 12.92 -> 13.
    assert realisations_needed(1.0, 1.0, sd_xct=1.0, n_xct=20, method="normal") == 13
    assert 1 / ((1 / z) ** 2 - 1 / 20) == pytest.approx(12.92, abs=0.01)
    # The experiment alone cannot resolve the difference: infinitely many realisations.
    assert np.isinf(realisations_needed(1.0, 1.0, sd_xct=5.0, n_xct=4))
    assert np.isnan(realisations_needed(np.nan, 1.0))
    # The t version: exact power of the (one-sample-like) t test reaches 0.8 at n, not n - 1.
    n = int(realisations_needed(1.0, 0.5))
    assert n >= 32

    def t_power(k: int) -> float:
        crit = stats.t.ppf(0.975, k - 1)
        nc = 0.5 * math.sqrt(k)
        return stats.nct.sf(crit, k - 1, nc) + stats.nct.cdf(-crit, k - 1, nc)

    assert t_power(n) >= 0.8 > t_power(n - 1)
    grid = realisations_needed(np.array([0.5, 1.0]), np.array([[0.5], [1.0]]), method="normal")
    assert grid.shape == (2, 2) and grid[0, 1] == 32


def test_distributions_permutation_and_ks():
    rng = np.random.default_rng(4)
    x_hist = _hist(rng, 6, 60, 8.0, 3.0)
    same = _hist(rng, 4, 60, 8.0, 3.0)[None, :, None, :]
    other = _hist(rng, 4, 60, 4.0, 3.0)[None, :, None, :]
    sim = _sim(np.full((1, 4, 2), 0.4), np.concatenate([same, other], axis=2))
    xct = _xct(np.full(6, 0.4), x_hist)
    out = compare_distributions(sim, xct)["sphericity_histogram"]
    # 10 units split 4 / 6: 210 splits, enumerated exactly; smallest p-value 1/210.
    assert np.all(out.sel(statistic="permutations") == math.comb(10, 4))
    p_same = float(out.sel(statistic="permutation_p_value", degree=0.0, case="c0"))
    p_other = float(out.sel(statistic="permutation_p_value", degree=0.3, case="c0"))
    assert p_same > 0.05 and p_other == pytest.approx(1 / 210)
    assert float(out.sel(statistic="ks_distance", degree=0.3, case="c0")) > float(
        out.sel(statistic="ks_distance", degree=0.0, case="c0"))
    assert float(out.sel(statistic="sim_values", degree=0.0, case="c0")) == 240
    # KS distance against scipy on the raw values when bins are the values themselves.
    a = np.array([[3, 0, 1, 0]]), np.array([[0, 2, 0, 2]])
    from mesosweep.analysis.compare import _ks_distance
    assert float(_ks_distance(a[0].sum(0), a[1].sum(0))) == pytest.approx(
        stats.ks_2samp([0, 0, 0, 2], [1, 1, 3, 3]).statistic)
    # Random permutations when the splits are too many: p is (hits + 1) / (B + 1).
    rnd = compare_distributions(sim, xct, permutations=50)["sphericity_histogram"]
    assert np.all(rnd.sel(statistic="permutations") == 50)
    p_value = rnd.sel(statistic="permutation_p_value", degree=0.3, case="c0")
    assert float(p_value) == pytest.approx(1 / 51)


def test_bad_parameters_are_refused():
    sim, xct = _sim(np.full((1, 3, 1), 0.4)), _xct(np.full(4, 0.4))
    with pytest.raises(ValueError, match="level"):
        summarise(sim, "realisation", level=95)
    with pytest.raises(ValueError, match="power"):
        compare(sim, xct, power=1.0)
    with pytest.raises(ValueError, match="method"):
        realisations_needed(1.0, 1.0, method="z")
