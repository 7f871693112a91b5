"""Statistics of a simulated ensemble against experimental XCT sub-volumes.

Datasets in, datasets out: every function takes :class:`xarray.Dataset` objects as the results
store holds them (``xr.open_zarr(store)`` for the ensemble, ``xr.open_zarr(store,
group="xct")`` for the sub-volumes) and returns a dataset, so a notebook can slice, plot or
tabulate the answer with xarray alone.

Data model
----------
* Simulation: metric variables with dims ``(case, realisation, degree, *extra)``; the
  realisations are the independent samples. Realisations whose ``status`` is not *done* (2)
  are left out (:func:`select_done`).
* Experiment: the same variable names with dims ``(subvolume, *extra)``; the sub-volumes are
  the samples. Sub-volumes cut from one tomogram are not fully independent (they share the
  electrode, and may overlap), so experimental confidence intervals are optimistic.
* Non-finite values (``tau = inf`` when nothing percolates, NaN when a metric is undefined)
  are left out; ``n`` counts the finite values used.

Statistics
----------
* Confidence intervals of means are t-based: ``mean ± t(1 - (1 - level)/2, n - 1) · sd/√n``
  with the sample sd (``ddof = 1``).
* Differences are ``simulation − experiment`` with Welch's unequal-variance t test and its
  Welch–Satterthwaite degrees of freedom; the interval is ``diff ± t(df) · se``.
* Histogram metrics (dims ending in ``_bin``: pore and throat radius, sphericity,
  orientation) are also compared as distributions (:func:`compare_distributions`): the
  Kolmogorov–Smirnov distance between the pooled histograms, its classical p-value (which
  treats every pore or particle as independent, and is therefore too small when values
  cluster within an electrode), and a permutation p-value that exchanges whole realisations
  and sub-volumes, the units that are independent (``scipy.stats.permutation_test``).
* Sample size (:func:`realisations_needed`): realisations that give a two-sided Welch test of
  level ``alpha`` the stated ``power`` to detect a true difference ``delta``, the
  experimental sample being fixed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd  # xarray's own dependency
import xarray as xr
from scipy import stats

from mesosweep.analysis.metric_table import METRICS

__all__ = [
    "ALPHA",
    "DONE",
    "LEVEL",
    "NOT_COMPARED",
    "POWER",
    "RELATIVE_DIFFERENCE",
    "bin_edges",
    "compare",
    "compare_distributions",
    "comparison_table",
    "distribution_metrics",
    "metric_names",
    "realisations_needed",
    "select_done",
    "summarise",
    "welch",
]

#: Default confidence level of intervals.
LEVEL = 0.95
#: Default significance level of tests (two-sided).
ALPHA = 0.05
#: Default power of the sample-size calculation.
POWER = 0.8
#: Default difference to resolve, as a fraction of the experimental mean.
RELATIVE_DIFFERENCE = 0.05
#: ``status`` flag of a finished realisation (see ``ensemble.store``).
DONE = 2
#: Metrics that have no experimental counterpart: the thickness of a sub-volume is chosen,
#: not measured, and deformation and rotation need a reference state that one tomogram lacks.
NOT_COMPARED = ("thickness", "deformation_mean", "rotation_mean")

SUMMARY = ("n", "mean", "sd", "ci_low", "ci_high")
COMPARISON = (
    "sim_n", "sim_mean", "sim_sd", "sim_ci_low", "sim_ci_high",
    "xct_n", "xct_mean", "xct_sd", "xct_ci_low", "xct_ci_high",
    "difference", "difference_ci_low", "difference_ci_high",
    "t", "df", "p_value", "delta", "realisations_needed", "realisations_needed_exact_xct",
)
DISTRIBUTION = (
    "sim_units", "xct_units", "sim_values", "xct_values",
    "ks_distance", "ks_p_value", "permutation_p_value", "permutations",
)
_STAT_DESCRIPTION = {
    "n": "number of finite values (count)",
    "mean": "sample mean (units of the metric)",
    "sd": "sample standard deviation, ddof=1 (units of the metric)",
    "ci_low": "lower end of the t-based confidence interval of the mean",
    "ci_high": "upper end of the t-based confidence interval of the mean",
}


# --------------------------------------------------------------------------- selection


def select_done(sim: xr.Dataset) -> xr.Dataset:
    """The ensemble with every value of an unfinished realisation set to NaN.

    Parameters
    ----------
    sim : xarray.Dataset
        A sweep store (dims ``case``, ``realisation``, ...) with a ``status`` variable.

    Returns
    -------
    xarray.Dataset
        Numeric variables with a ``realisation`` dim masked (NaN, so integers become float)
        where ``status != DONE``; other variables unchanged. Without ``status`` the dataset is
        returned as it is.
    """
    if "status" not in sim:
        return sim
    done = sim["status"] == DONE
    out = sim.copy()
    for name, var in sim.data_vars.items():
        # Integer metrics (histogram counts) become float so that they can hold NaN.
        if "realisation" in var.dims and _numeric(var) and name != "status":
            out[name] = var.where(done)
            out[name].attrs = dict(var.attrs)
    return out


def metric_names(sim: xr.Dataset, xct: xr.Dataset) -> list[str]:
    """Metrics present on both sides, in the order of the metric declaration.

    A metric is a numeric variable with a ``realisation`` dim in ``sim`` and a ``subvolume``
    dim in ``xct``, with the same extra dims on both sides, not in :data:`NOT_COMPARED`.
    """
    names = []
    for name, var in sorted(sim.data_vars.items(), key=lambda item: _declared_order(item[0])):
        if name in NOT_COMPARED or name not in xct or "realisation" not in var.dims:
            continue
        other = xct[name]
        if "subvolume" not in other.dims or not _numeric(var) or not _numeric(other):
            continue
        if _extra_dims(var) != _extra_dims(other):
            continue
        names.append(str(name))
    return names


def _declared_order(name: object) -> tuple[int, str]:
    """Position in :data:`analysis.metric_table.METRICS` (porosity, tau … first), then by
    name."""
    order = list(METRICS)
    return (order.index(name) if name in order else len(order), str(name))


def bin_edges(ds: xr.Dataset, dim: str) -> np.ndarray | None:
    """The ``n + 1`` edges of the binned coordinate ``dim``, from the (n, 2) bounds variable
    that its CF ``bounds`` attribute names; None when it names none (or the dataset lacks it)."""
    name = ds[dim].attrs.get("bounds") if dim in ds.coords else None
    if name is None or name not in ds.variables:
        return None
    bounds = np.asarray(ds[name].values, dtype=float)
    return np.r_[bounds[:, 0], bounds[-1:, 1]]


def distribution_metrics(ds: xr.Dataset) -> list[str]:
    """Histogram metrics of a dataset: variables with exactly one extra dim ending in ``_bin``."""
    return [str(n) for n, v in ds.data_vars.items()
            if len(_extra_dims(v)) == 1 and _extra_dims(v)[0].endswith("_bin")]


# --------------------------------------------------------------------------- summaries


def summarise(ds: xr.Dataset, dim: str, *, level: float = LEVEL,
              names: Sequence[str] | None = None) -> xr.Dataset:
    """Sample size, mean, sd and t-based confidence interval of each metric over ``dim``.

    Parameters
    ----------
    ds : xarray.Dataset
        Metrics with a sample dim (``realisation`` or ``subvolume``).
    dim : str
        The sample dim, reduced away.
    level : float, default 0.95
        Confidence level of the interval, in (0, 1).
    names : sequence of str, optional
        Variables to summarise (default: every numeric variable with ``dim``).

    Returns
    -------
    xarray.Dataset
        Each variable gains a leading ``statistic`` dim (``n``, ``mean``, ``sd``, ``ci_low``,
        ``ci_high``) and keeps its units (``n`` is a count). ``sd`` and the interval are NaN
        with fewer than two values.
    """
    _check_probability("level", level)
    names = list(names) if names is not None else [
        str(n) for n, v in ds.data_vars.items() if dim in v.dims and _numeric(v)]
    out = {}
    for name in names:
        var = ds[name].compute()  # a store opens lazily (dask); the statistics need the values
        if dim not in var.dims:
            raise ValueError(f"{name} has no {dim!r} dimension (dims {var.dims})")
        n, mean, sd = _moments(var, dim)
        half = _t_quantile(0.5 + level / 2, n - 1) * sd / np.sqrt(n)
        out[name] = _stack([n, mean, sd, mean - half, mean + half], SUMMARY, var.attrs)
        out[name].attrs.update(
            statistics="; ".join(f"{k}: {v}" for k, v in _STAT_DESCRIPTION.items()),
            level=level, sample_dim=dim)
    result = xr.Dataset(out)
    result.attrs.update(level=level, sample_dim=dim,
                        note="non-finite values left out; intervals are t-based")
    return result


def welch(mean_a: np.ndarray, sd_a: np.ndarray, n_a: np.ndarray,
          mean_b: np.ndarray, sd_b: np.ndarray, n_b: np.ndarray,
          *, level: float = LEVEL) -> dict[str, np.ndarray]:
    """Welch's two-sample t test and interval of ``mean_a - mean_b`` from summary numbers.

    Parameters
    ----------
    mean_a, sd_a, n_a, mean_b, sd_b, n_b : array_like
        Means, sample sds (ddof=1) and sizes of the two samples (broadcast together).
    level : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    dict of str to numpy.ndarray
        ``difference``, ``ci_low``, ``ci_high``, ``t``, ``df`` (Welch–Satterthwaite) and the
        two-sided ``p_value``; NaN where a sample has fewer than two values or both
        variances are zero.
    """
    _check_probability("level", level)
    ma, sa, na, mb, sb, nb = (np.asarray(a, dtype=float) for a in
                              (mean_a, sd_a, n_a, mean_b, sd_b, n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        va, vb = sa**2 / na, sb**2 / nb
        se = np.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
        ok = (na >= 2) & (nb >= 2) & (se > 0)
        diff = ma - mb
        t = np.where(ok, diff / se, np.nan)
        df = np.where(ok, df, np.nan)
        p = np.where(ok, 2 * stats.t.sf(np.abs(t), df), np.nan)
        half = np.where(ok, stats.t.ppf(0.5 + level / 2, df) * se, np.nan)
    return {"difference": diff, "ci_low": diff - half, "ci_high": diff + half,
            "t": t, "df": df, "p_value": p}


def realisations_needed(sd_sim: np.ndarray, delta: np.ndarray, *,
                        sd_xct: np.ndarray | float = 0.0, n_xct: np.ndarray | float = np.inf,
                        alpha: float = ALPHA, power: float = POWER,
                        method: str = "t") -> np.ndarray:
    """Realisations needed for a two-sided Welch test to detect a difference ``delta``.

    The experimental sample (``n_xct`` values with sd ``sd_xct``) is fixed; the standard
    error with ``n`` realisations is ``se(n) = sqrt(sd_sim²/n + sd_xct²/n_xct)``, and ``n``
    is the smallest integer >= 2 with ``|delta| / se(n) >= q(1 - alpha/2) + q(power)``.

    Parameters
    ----------
    sd_sim : array_like
        Spread (sd) of the metric between realisations, units of the metric.
    delta : array_like
        True difference to resolve, units of the metric (sign ignored).
    sd_xct : array_like, default 0
        Experimental sd; with ``n_xct`` it sets the experimental share of the error.
    n_xct : array_like, default inf
        Number of experimental sub-volumes.
    alpha : float, default 0.05
        Two-sided significance level.
    power : float, default 0.8
        Probability of detecting ``delta``.
    method : {"t", "normal"}, default "t"
        ``"normal"``: ``q`` are standard-normal quantiles (the textbook closed form
        ``n = sd_sim² (z_a + z_b)² / (delta² − (z_a + z_b)² sd_xct²/n_xct)``). ``"t"``:
        ``q`` are t quantiles at the Welch degrees of freedom of ``n``, found by iteration
        from the normal answer (a slightly larger, more honest ``n`` for small ensembles).

    Returns
    -------
    numpy.ndarray of float
        Whole numbers of realisations (float so that the answer can be ``inf``: the
        experimental uncertainty alone is too large to resolve ``delta``; NaN when an input
        is NaN or ``delta`` is 0).
    """
    _check_probability("alpha", alpha)
    _check_probability("power", power)
    if method not in ("t", "normal"):
        raise ValueError(f"method must be 't' or 'normal', got {method!r}")
    s, d, sx, nx = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in
                                         (sd_sim, delta, sd_xct, n_xct)))
    out = np.full(s.shape, np.nan)
    for idx in np.ndindex(s.shape):
        out[idx] = _needed_one(s[idx], abs(d[idx]), sx[idx], nx[idx], alpha, power, method)
    return out if out.ndim else out[()]


def _needed_one(s: float, d: float, sx: float, nx: float, alpha: float, power: float,
                method: str) -> float:
    if not (np.isfinite(s) and np.isfinite(d) and np.isfinite(sx)) or d == 0 or np.isnan(nx):
        return np.nan
    x_var = sx**2 / nx if np.isfinite(nx) else 0.0

    def n_for(q: float) -> float:
        room = (d / q) ** 2 - x_var  # variance of the simulated mean that is still allowed
        if room <= 0:
            return np.inf
        return max(2.0, math.ceil(s**2 / room - 1e-12))

    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n = n_for(z)
    if method == "normal" or not np.isfinite(n):
        return float(n)
    # Fixed point on the t quantiles: df grows with n, so n only grows and the loop ends.
    for _ in range(200):
        df = _welch_df(s, n, sx, nx)
        q = stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)
        new = n_for(q)
        if not np.isfinite(new) or new <= n:
            return float(max(n, new) if np.isfinite(new) else new)
        n = new
    return float(n)


def _welch_df(s: float, n: float, sx: float, nx: float) -> float:
    va = s**2 / n
    vb = sx**2 / nx if np.isfinite(nx) else 0.0
    if vb == 0:
        return n - 1
    if va == 0:
        return nx - 1
    return (va + vb) ** 2 / (va**2 / (n - 1) + vb**2 / (nx - 1))


# --------------------------------------------------------------------------- comparison


def compare(sim: xr.Dataset, xct: xr.Dataset, *, level: float = LEVEL, alpha: float = ALPHA,
            power: float = POWER,
            difference: float | Mapping[str, float] = RELATIVE_DIFFERENCE,
            names: Sequence[str] | None = None) -> xr.Dataset:
    """Ensemble against experiment, metric by metric, for every case and degree.

    Parameters
    ----------
    sim : xarray.Dataset
        The sweep store (unfinished realisations are left out via :func:`select_done`).
    xct : xarray.Dataset
        The experimental sub-volumes (dim ``subvolume``).
    level : float, default 0.95
        Confidence level of every interval.
    alpha : float, default 0.05
        Significance level of the sample-size calculation (two-sided).
    power : float, default 0.8
        Power of the sample-size calculation.
    difference : float or mapping of str to float, default 0.05
        Difference to resolve: a float is a fraction of the experimental mean (0.05 = 5 %);
        a mapping gives an absolute difference per metric name, in its units (metrics it
        does not name get NaN).
    names : sequence of str, optional
        Metrics to compare (default :func:`metric_names`).

    Returns
    -------
    xarray.Dataset
        One variable per metric, with a leading ``statistic`` dim (:data:`COMPARISON`):
        simulation and experiment ``n``/``mean``/``sd``/interval, ``difference`` (sim − xct)
        with its interval, Welch ``t``, ``df``, ``p_value``, the ``delta`` used, the
        ``realisations_needed`` to resolve it against this experimental sample, and
        ``realisations_needed_exact_xct`` were the experimental mean known exactly (the
        ensemble's own share); then ``case``, ``degree`` and the metric's extra dims. Every case
        and degree is set against the same experimental sample; pick the degree that matches
        the tomogram (``xct.attrs["degree"]``, when known).
    """
    for name, p in (("alpha", alpha), ("power", power)):
        _check_probability(name, p)
    names = list(names) if names is not None else metric_names(sim, xct)
    sim = select_done(sim)
    s = summarise(sim, "realisation", level=level, names=names)
    x = summarise(xct, "subvolume", level=level, names=names)
    out = {}
    for name in names:
        a, b = s[name], x[name]
        w = welch(a.sel(statistic="mean"), a.sel(statistic="sd"), a.sel(statistic="n"),
                  b.sel(statistic="mean"), b.sel(statistic="sd"), b.sel(statistic="n"),
                  level=level)
        ref = a.sel(statistic="mean", drop=True)
        w = {k: xr.DataArray(np.asarray(v), dims=ref.dims, coords=ref.coords)
             if np.ndim(v) else v for k, v in w.items()}
        # Broadcast the experimental numbers over case and degree.
        xb = {k: xr.broadcast(b.sel(statistic=k, drop=True), ref)[0] for k in SUMMARY}
        if isinstance(difference, Mapping):
            delta = xr.full_like(ref, float(difference.get(name, np.nan)))
        else:
            delta = abs(float(difference) * xb["mean"])
        needed = xr.apply_ufunc(
            lambda sd, dl, sx, nx: realisations_needed(sd, dl, sd_xct=sx, n_xct=nx,
                                                       alpha=alpha, power=power),
            a.sel(statistic="sd", drop=True), delta, xb["sd"], xb["n"])
        parts = [a.sel(statistic=k, drop=True) for k in SUMMARY] + [xb[k] for k in SUMMARY]
        # The same with an exactly known experimental mean: what the ensemble alone needs.
        alone = xr.apply_ufunc(
            lambda sd, dl: realisations_needed(sd, dl, alpha=alpha, power=power),
            a.sel(statistic="sd", drop=True), delta)
        parts += [w["difference"], w["ci_low"], w["ci_high"], w["t"], w["df"], w["p_value"],
                  delta, needed, alone]
        out[name] = _stack(parts, COMPARISON, sim[name].attrs)
        out[name].attrs["test"] = "Welch two-sample t test, two-sided; difference = sim - xct"
    result = xr.Dataset(out)
    result.attrs.update(
        level=level, alpha=alpha, power=power,
        difference=("absolute per metric: " + ", ".join(f"{k}={v:g}" for k, v in difference.items())
                    if isinstance(difference, Mapping)
                    else f"{float(difference):g} x |experimental mean|"),
        simulation_samples="realisations with status done",
        experiment_samples="XCT sub-volumes",
        experiment_degree=float(xct.attrs.get("degree", np.nan)),
    )
    return result


def compare_distributions(sim: xr.Dataset, xct: xr.Dataset, *,
                          names: Sequence[str] | None = None,
                          lower_limits: Mapping[str, float] | None = None,
                          permutations: int = 9999, seed: int = 0) -> xr.Dataset:
    """Histogram metrics of the ensemble against the sub-volumes, as distributions.

    The histograms of all realisations (of one case and degree) are pooled, as are those of
    all sub-volumes; the Kolmogorov–Smirnov distance is the largest gap between the two
    pooled cumulative distributions at the bin edges.

    Parameters
    ----------
    sim, xct : xarray.Dataset
        As for :func:`compare`; histogram variables hold counts per ``*_bin``.
    names : sequence of str, optional
        Histogram metrics (default: those of :func:`distribution_metrics` on both sides).
    lower_limits : mapping of str to float, optional
        Per metric, bins whose upper edge is at or below this value are left out (units of
        the bin coordinate). Default ``{"pore_radius_histogram": 1.0}``: pores up to 1 µm are
        below what the XCT resolves, as in the paper.
    permutations : int, default 9999
        Random relabellings of the units (realisations and sub-volumes); when all distinct
        splits are fewer, they are enumerated instead (an exact test).
    seed : int, default 0
        Seed of the permutations.

    Returns
    -------
    xarray.Dataset
        One variable per metric with dims ``(statistic, case, degree)`` and ``statistic``
        in :data:`DISTRIBUTION`: units and values pooled on each side, ``ks_distance``
        (dimensionless), ``ks_p_value`` (classical two-sample KS, asymptotic, treating values
        as independent and binned — indicative only), ``permutation_p_value`` (units
        exchanged; valid with clustered values) and the number of ``permutations`` used.
    """
    if int(permutations) != permutations or permutations < 1:
        raise ValueError(f"permutations must be an integer >= 1, got {permutations!r}")
    limits = {"pore_radius_histogram": 1.0} if lower_limits is None else dict(lower_limits)
    if names is None:
        both = set(distribution_metrics(xct))
        names = [n for n in distribution_metrics(sim) if n in both]
    sim = select_done(sim)
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        var, other = sim[name].compute(), xct[name].compute()
        bin_dim = _extra_dims(var)[0]
        keep = _bins_above(sim, var, bin_dim, limits.get(name))
        x_counts = _unit_counts(other.isel({bin_dim: keep}), "subvolume", bin_dim)
        ref = var.isel(realisation=0, drop=True).isel({bin_dim: 0}, drop=True)
        result = np.full((len(DISTRIBUTION),) + ref.shape, np.nan)
        for idx in np.ndindex(ref.shape):
            sel = dict(zip(ref.dims, idx, strict=True))
            s_counts = _unit_counts(var.isel(sel).isel({bin_dim: keep}), "realisation", bin_dim)
            result[(slice(None),) + idx] = _distribution_test(s_counts, x_counts,
                                                              int(permutations), rng)
        da = xr.DataArray(result, dims=("statistic",) + ref.dims,
                          coords={"statistic": list(DISTRIBUTION), **ref.coords})
        da.attrs = {"units": "1", "description": f"distribution comparison of {name}: "
                    + str(var.attrs.get("description", "")),
                    "bins_used_from": str(limits.get(name, "all"))}
        out[name] = da
    result = xr.Dataset(out)
    result.attrs.update(permutations=int(permutations), seed=int(seed),
                        ks_distance="max |F_sim - F_xct| over bin edges of the pooled histograms",
                        permutation_unit="realisation (simulation) / sub-volume (experiment)")
    return result


def comparison_table(cmp: xr.Dataset, names: Sequence[str] | None = None):
    """Scalar metrics of :func:`compare` as one tidy table (a pandas DataFrame).

    Parameters
    ----------
    cmp : xarray.Dataset
        Output of :func:`compare`.
    names : sequence of str, optional
        Metrics (default: every metric without extra dims).

    Returns
    -------
    pandas.DataFrame
        One row per (metric, case, degree), one column per statistic, plus ``units``.
    """
    names = list(names) if names is not None else [
        str(n) for n, v in cmp.data_vars.items() if set(v.dims) <= {"statistic", "case", "degree"}]
    frames = []
    for name in names:
        df = cmp[name].to_dataset(dim="statistic").to_dataframe().reset_index()
        df.insert(0, "metric", name)
        df.insert(1, "units", str(cmp[name].attrs.get("units", "")))
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["metric", "units", "case", "degree", *COMPARISON])
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- helpers


def _numeric(var: xr.DataArray) -> bool:
    return np.issubdtype(var.dtype, np.number) and not np.issubdtype(var.dtype, np.timedelta64)


def _extra_dims(var: xr.DataArray) -> tuple[str, ...]:
    return tuple(str(d) for d in var.dims
                 if d not in ("case", "realisation", "degree", "subvolume"))


def _check_probability(name: str, value: float) -> None:
    if not (isinstance(value, (int, float, np.floating)) and 0 < value < 1):
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")


def _moments(var: xr.DataArray, dim: str) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    v = var.astype(float)
    v = v.where(np.isfinite(v))
    n = v.count(dim).astype(float)
    mean = v.mean(dim)
    sd = v.std(dim, ddof=1).where(n >= 2)
    return n, mean, sd


def _t_quantile(p: float, df: xr.DataArray) -> xr.DataArray:
    return xr.apply_ufunc(lambda d: stats.t.ppf(p, np.where(d >= 1, d, np.nan)), df)


def _stack(parts: list, labels: Sequence[str], attrs: Mapping) -> xr.DataArray:
    parts = [p if isinstance(p, xr.DataArray) else xr.DataArray(p) for p in parts]
    parts = [p.drop_vars([c for c in p.coords if c == "statistic"]) for p in parts]
    parts = list(xr.broadcast(*parts))
    da = xr.concat(parts, dim=xr.DataArray(list(labels), dims="statistic", name="statistic"),
                   coords="minimal", compat="override", join="outer")
    da.attrs = {k: v for k, v in attrs.items() if k in ("units", "description")}
    return da


def _bins_above(ds: xr.Dataset, var: xr.DataArray, bin_dim: str, limit: float | None) -> np.ndarray:
    n = var.sizes[bin_dim]
    if limit is None:
        return np.arange(n)
    upper = _upper_edges(ds, var, bin_dim)
    keep = np.flatnonzero(upper > limit + 1e-12)
    if keep.size == 0:
        raise ValueError(f"no bin of {var.name} lies above {limit}")
    return keep


def _upper_edges(ds: xr.Dataset, var: xr.DataArray, bin_dim: str) -> np.ndarray:
    """Upper bin edges: from the bins' bounds variable, else midway to the next centre."""
    edges = bin_edges(ds, bin_dim)
    if edges is not None:
        return edges[1:]
    centres = np.asarray(var[bin_dim].values, dtype=float)
    half = np.diff(centres) / 2
    return centres + np.r_[half, half[-1:]] if centres.size > 1 else centres


def _unit_counts(var: xr.DataArray, unit_dim: str, bin_dim: str) -> np.ndarray:
    """Counts as (units, bins), units with no finite counts dropped."""
    counts = np.asarray(var.transpose(unit_dim, bin_dim).values, dtype=float)
    good = np.all(np.isfinite(counts), axis=1)
    return counts[good]


def _ks_distance(counts_a: np.ndarray, counts_b: np.ndarray) -> np.ndarray:
    """KS distance between pooled histograms; rows of ``counts_*`` may be stacked groups."""
    ca, cb = np.cumsum(counts_a, axis=-1), np.cumsum(counts_b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fa, fb = ca / ca[..., -1:], cb / cb[..., -1:]
    return np.max(np.abs(fa - fb), axis=-1)


def _distribution_test(a: np.ndarray, b: np.ndarray, permutations: int,
                       rng: np.random.Generator) -> np.ndarray:
    na_units, nb_units = len(a), len(b)
    na_vals, nb_vals = a.sum(), b.sum()
    row = [na_units, nb_units, na_vals, nb_vals, np.nan, np.nan, np.nan, 0]
    if na_units == 0 or nb_units == 0 or na_vals == 0 or nb_vals == 0:
        return np.array(row, dtype=float)
    d = float(_ks_distance(a.sum(axis=0), b.sum(axis=0)))
    m_eff = na_vals * nb_vals / (na_vals + nb_vals)
    ks_p = float(stats.kstwobign.sf(d * math.sqrt(m_eff)))
    # The units (rows) are exchanged between the two samples; scipy enumerates every split
    # when there are no more than ``permutations`` of them (an exact test, p = hits / splits)
    # and otherwise draws ``permutations`` at random (p = (hits + 1) / (draws + 1)).
    test = stats.permutation_test((a, b), _pooled_ks, permutation_type="independent",
                                  vectorized=True, n_resamples=permutations,
                                  alternative="greater", axis=0, rng=rng)
    row[4:] = [d, ks_p, float(test.pvalue), len(test.null_distribution)]
    return np.array(row, dtype=float)


def _pooled_ks(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
    """KS distance between the histograms pooled over the units along ``axis`` (the bins are
    the other trailing axis); a split that leaves a side without values counts as 0."""
    d = _ks_distance(np.sum(a, axis=axis), np.sum(b, axis=axis))
    return np.where(np.isfinite(d), d, 0.0)
