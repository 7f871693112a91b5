"""The comparison report: figures, tables and one ``index.html`` that lays them out.

:func:`build_report` reads a sweep store (and, if any, the XCT sub-volumes: a separate store,
or the store's own ``xct`` group), draws :func:`report.figures.all_figures`, runs
:func:`analysis.compare.compare` and :func:`analysis.compare.compare_distributions`, and
writes into one folder:

* ``index.html`` — self-contained apart from the images it links, rendered from the jinja2
  template ``templates/report.html`` with autoescape on, so every text from the store is
  escaped;
* ``fig*.png`` / ``fig*.svg`` — the figures;
* ``comparison.csv`` (scalar metrics) and ``distributions.csv`` (histogram metrics) — the
  tables, for a spreadsheet.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import jinja2  # installed with Dask (distributed renders its own pages with it)
import numpy as np
import pandas as pd
import xarray as xr
import zarr

from mesosweep.analysis.compare import (
    ALPHA,
    DONE,
    LEVEL,
    POWER,
    RELATIVE_DIFFERENCE,
    compare,
    compare_distributions,
    comparison_table,
    select_done,
    summarise,
)
from mesosweep.ensemble.xct_store import GROUP, open_xct
from mesosweep.report.figures import FigureResult, all_figures

__all__ = ["build_report", "find_xct", "output_problem"]

_TEMPLATE = "report.html"  # in templates/, package data beside this module


def _environment() -> jinja2.Environment:
    """Templates of this package, every value escaped unless a template says otherwise (none
    does): case names, sources and captions are text from the store, never HTML."""
    return jinja2.Environment(loader=jinja2.PackageLoader("mesosweep.report", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True)


def output_problem(out_dir: str | Path, *, overwrite: bool = False) -> str | None:
    """Why a report cannot be written into ``out_dir`` (None: it can), before any work: it
    must not be a file, nor lie in a zarr store (a sweep's or the XCT's: its files would mix
    with the store's), nor hold a report already unless ``overwrite``."""
    out = Path(out_dir)
    if (out.exists() or out.is_symlink()) and not out.is_dir():
        return f"{out} exists and is not a folder; give a folder for the report"
    for folder in (out.absolute(), *out.absolute().parents):
        if (folder / "zarr.json").is_file() or (folder / ".zgroup").is_file():
            return (f"{out} lies in the zarr store {folder}; a report beside a store, not in "
                    "it, e.g. -o report")
    if (out / "index.html").exists() and not overwrite:
        return (f"{out} already holds a report (index.html); choose another folder, or pass "
                "--force to replace it")
    return None


def find_xct(store: Path, xct: Path | None = None) -> xr.Dataset | None:
    """The XCT sub-volumes for a report: ``xct`` if given, else the store's ``xct`` group.

    Returns None when there are none.
    """
    if xct is not None:
        return open_xct(xct)
    root = zarr.open_group(str(store), mode="r")
    return open_xct(store, GROUP) if GROUP in root else None


def build_report(store: str | Path, out_dir: str | Path, *, xct: str | Path | None = None,
                 level: float = LEVEL, alpha: float = ALPHA, power: float = POWER,
                 difference: float = RELATIVE_DIFFERENCE, overwrite: bool = False) -> Path:
    """Write the figures, tables and ``index.html`` of a sweep's comparison with XCT.

    Parameters
    ----------
    store : str or pathlib.Path
        The sweep store.
    out_dir : str or pathlib.Path
        Output folder (created; files in it are overwritten).
    xct : str or pathlib.Path, optional
        Store of the XCT sub-volumes (default: the sweep store's ``xct`` group, if any).
    level : float, default 0.95
        Confidence level of the intervals.
    alpha, power : float, default 0.05 and 0.8
        Significance level and power of the sample-size calculation.
    difference : float, default 0.05
        Difference to resolve, as a fraction of the experimental mean.
    overwrite : bool, default False
        Replace a report already in ``out_dir``; without it that is refused (ValueError), as
        is an ``out_dir`` inside a zarr store (:func:`output_problem`).

    Returns
    -------
    pathlib.Path
        The ``index.html`` written.
    """
    store, out = Path(store), Path(out_dir)
    problem = output_problem(out, overwrite=overwrite)
    if problem is not None:
        raise ValueError(problem)
    out.mkdir(parents=True, exist_ok=True)
    sim = xr.open_zarr(store).load()
    x = find_xct(store, Path(xct) if xct is not None else None)
    if x is not None:
        x = x.load()
    figures = all_figures(sim, x, out, store=store)

    context = _header(store, sim, x, level, alpha, power, difference)
    context["comparison"] = context["distributions"] = context["ensemble"] = None
    if x is not None:
        cmp = compare(sim, x, level=level, alpha=alpha, power=power, difference=difference)
        table = comparison_table(cmp)
        table.to_csv(out / "comparison.csv", index=False)
        context["comparison"] = _comparison(table, cmp, level)
        dist = compare_distributions(sim, x)
        dist_table = _distribution_frame(dist)
        dist_table.to_csv(out / "distributions.csv", index=False)
        context["distributions"] = _distributions(dist_table, dist)
    else:
        context["ensemble"] = _ensemble(sim, level)
    context["figures"] = _figures(figures, out)
    page = _environment().get_template(_TEMPLATE).render(context)
    index = out / "index.html"
    # Written beside and renamed: a replaced report's page is the old one or the new, whole.
    partial = out / ".index.html.tmp"
    partial.write_text(page, encoding="utf-8")
    partial.replace(index)
    return index


# --------------------------------------------------------------------------- sections
# Each returns plain values for the template (report.html); the template escapes them all.


def _num(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}g}"


def _pct(fraction: float) -> str:
    return f"{100 * float(fraction):.0f}%"


def _header(store: Path, sim: xr.Dataset, x: xr.Dataset | None, level: float, alpha: float,
            power: float, difference: float) -> dict:
    status = sim["status"].values if "status" in sim else np.array([])
    context = {
        "store": str(store), "store_name": store.name,
        "title": sim.attrs.get("title", store.name),
        "done": int((status == DONE).sum()), "total": int(status.size),
        "cases": [str(c) for c in sim["case"].values],
        "degrees": [_pct(d) for d in sim["degree"].values],
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "level_pct": f"{100 * level:g}", "alpha": f"{alpha:g}", "power": f"{power:g}",
        "difference_pct": f"{100 * difference:g}", "xct": None,
    }
    if x is not None:
        deg = float(x.attrs.get("degree", np.nan))
        context["xct"] = {
            "subvolumes": x.sizes["subvolume"],
            **{k: x.attrs.get(k, "?") for k in ("size_um", "source", "voxel_size_um", "seed",
                                                  "cbd_as")},
            "degree": "unknown" if math.isnan(deg) else _pct(deg)}
    return context


def _table(columns: list[str], rows: list[dict], left: int) -> dict:
    """A table for the template: ``left`` columns are text (aligned left), the rest numbers;
    each row is ``{"cells": [...], "highlight": bool}``."""
    return {"columns": columns, "rows": rows, "left": left}


def _comparison(table: pd.DataFrame, cmp: xr.Dataset, level: float) -> dict:
    deg = float(cmp.attrs.get("experiment_degree", np.nan))
    cols = ["metric", "units", "case", "degree", "simulation mean ± sd (n)",
            f"simulation {100 * level:g}% CI", "XCT mean ± sd (n)", f"XCT {100 * level:g}% CI",
            f"difference [{100 * level:g}% CI]", "p (Welch)", "δ",
            "realisations needed (if the XCT mean were exact)"]
    rows = []
    for _, r in table.iterrows():
        cells = [
            r["metric"], r["units"], r["case"], _pct(r["degree"]),
            f"{_num(r['sim_mean'])} ± {_num(r['sim_sd'], 2)} ({_num(r['sim_n'])})",
            f"[{_num(r['sim_ci_low'])}, {_num(r['sim_ci_high'])}]",
            f"{_num(r['xct_mean'])} ± {_num(r['xct_sd'], 2)} ({_num(r['xct_n'])})",
            f"[{_num(r['xct_ci_low'])}, {_num(r['xct_ci_high'])}]",
            f"{_num(r['difference'])} "
            f"[{_num(r['difference_ci_low'])}, {_num(r['difference_ci_high'])}]",
            _num(r["p_value"], 3), _num(r["delta"], 3),
            f"{_num(r['realisations_needed'])} ({_num(r['realisations_needed_exact_xct'])})",
        ]
        sig = isinstance(r["p_value"], float) and r["p_value"] < 1 - level
        rows.append({"highlight": sig, "cells": cells})
    return {"threshold": f"{1 - level:g}", "degree": None if math.isnan(deg) else _pct(deg),
            "table": _table(cols, rows, left=3)}


def _distribution_frame(dist: xr.Dataset) -> pd.DataFrame:
    frames = []
    for name in dist.data_vars:
        df = dist[name].to_dataset(dim="statistic").to_dataframe().reset_index()
        df.insert(0, "metric", name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _distributions(frame: pd.DataFrame, dist: xr.Dataset) -> dict:
    cols = ["metric", "case", "degree", "realisations", "sub-volumes", "values (sim)",
            "values (XCT)", "KS distance", "KS p", "permutation p"]
    rows = [{"highlight": False, "cells": [
        r["metric"], r["case"], _pct(r["degree"]), _num(r["sim_units"]), _num(r["xct_units"]),
        _num(r["sim_values"]), _num(r["xct_values"]), _num(r["ks_distance"], 3),
        _num(r["ks_p_value"], 3), _num(r["permutation_p_value"], 3)]}
        for _, r in frame.iterrows()]
    return {"permutations": dist.attrs.get("permutations", ""),
            "table": _table(cols, rows, left=2)}


def _ensemble(sim: xr.Dataset, level: float) -> dict:
    names = [n for n, v in sim.data_vars.items()
             if set(v.dims) == {"case", "realisation", "degree"}
             and np.issubdtype(v.dtype, np.floating)]
    s = summarise(select_done(sim), "realisation", level=level, names=names)
    cols = ["metric", "units", "case", "degree", "mean ± sd (n)", f"{100 * level:g}% CI"]
    rows = []
    for name in names:
        for case in s["case"].values:
            for d in s["degree"].values:
                v = s[name].sel(case=case, degree=d)
                g = {k: float(v.sel(statistic=k)) for k in ("n", "mean", "sd", "ci_low", "ci_high")}
                rows.append({"highlight": False, "cells": [
                    name, sim[name].attrs.get("units", ""), case, _pct(d),
                    f"{_num(g['mean'])} ± {_num(g['sd'], 2)} ({_num(g['n'])})",
                    f"[{_num(g['ci_low'])}, {_num(g['ci_high'])}]"]})
    return _table(cols, rows, left=3)


def _figures(figures: list[FigureResult], out: Path) -> list[dict]:
    return [{"key": f.key, "title": f.title, "caption": f.caption, "skipped": f.skipped,
             "png": str(f.png.relative_to(out)) if f.png is not None else "",
             "svg": next((str(p.relative_to(out)) for p in f.paths if p.suffix == ".svg"), None)}
            for f in figures]
