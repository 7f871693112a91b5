"""The comparison report: figures, tables and one ``index.html`` that lays them out.

:func:`build_report` reads a sweep store (and, if any, the XCT sub-volumes: a separate store,
or the store's own ``xct`` group), draws :func:`report.figures.all_figures`, runs
:func:`analysis.compare.compare` and :func:`analysis.compare.compare_distributions`, and
writes into one folder:

* ``index.html`` — self-contained apart from the images it links, all text escaped;
* ``fig*.png`` / ``fig*.svg`` — the figures;
* ``comparison.csv`` (scalar metrics) and ``distributions.csv`` (histogram metrics) — the
  tables, for a spreadsheet.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from mesosweep.analysis.compare import (
    ALPHA,
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

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
tr.sig td { background: #fff3e0; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; max-width: 60em; }
.note { color: #8a4b00; } .small { font-size: 0.85em; color: #555; }
"""


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

    sections = [_header(store, sim, x, level, alpha, power, difference)]
    if x is not None:
        cmp = compare(sim, x, level=level, alpha=alpha, power=power, difference=difference)
        table = comparison_table(cmp)
        table.to_csv(out / "comparison.csv", index=False)
        sections.append(_comparison_html(table, cmp, level))
        dist = compare_distributions(sim, x)
        dist_table = _distribution_frame(dist)
        dist_table.to_csv(out / "distributions.csv", index=False)
        sections.append(_distribution_html(dist_table, dist))
    else:
        sections.append("<h2>Comparison</h2><p class='note'>No XCT sub-volumes: give --xct, or "
                        "measure them into the store with <code>mesosweep xct measure … -o "
                        f"{html.escape(str(store))}</code>. The ensemble alone:</p>")
        sections.append(_ensemble_html(sim, level))
    sections.append(_figures_html(figures, out))
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape('mesosweep report: ' + store.name)}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n")
    index = out / "index.html"
    # Written beside and renamed: a replaced report's page is the old one or the new, whole.
    partial = out / ".index.html.tmp"
    partial.write_text(page, encoding="utf-8")
    partial.replace(index)
    return index


# --------------------------------------------------------------------------- sections


def _e(value: object) -> str:
    return html.escape(str(value))


def _num(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}g}"


def _header(store: Path, sim: xr.Dataset, x: xr.Dataset | None, level: float, alpha: float,
            power: float, difference: float) -> str:
    status = sim["status"].values if "status" in sim else np.array([])
    done = int((status == 2).sum())
    lines = [f"<h1>{_e('mesosweep comparison report: ' + sim.attrs.get('title', store.name))}</h1>",
             ("<p class='small'>"
             f"store {_e(store)} · {done} of {status.size} realisations done · cases "
             f"{_e(', '.join(str(c) for c in sim['case'].values))} · compression degrees "
             f"{_e(', '.join(f'{100 * float(d):.0f}%' for d in sim['degree'].values))} · "
             f"written {_e(datetime.now(UTC).isoformat(timespec='seconds'))}</p>")]
    if x is not None:
        deg = float(x.attrs.get("degree", np.nan))
        lines.append(
            "<p class='small'>XCT: "
            f"{_e(x.sizes['subvolume'])} sub-volumes of {_e(x.attrs.get('size_um', '?'))} µm from "
            f"{_e(x.attrs.get('source', '?'))} "
            f"(voxel {_e(x.attrs.get('voxel_size_um', '?'))} µm, "
            f"seed {_e(x.attrs.get('seed', '?'))}, "
            f"CBD counted as {_e(x.attrs.get('cbd_as', '?'))}); "
            f"compression degree of the imaged electrode: "
            f"{_e('unknown' if math.isnan(deg) else f'{100 * deg:.0f}%')}.</p>")
    lines.append(
        f"<p class='small'>Statistics: t-based {100 * level:g}% confidence intervals; difference = "
        f"simulation − XCT with Welch's t test; realisations needed for a two-sided Welch test "
        f"at α = {alpha:g} with power {power:g} to detect a difference of "
        f"{100 * difference:g}% of the XCT mean (∞: the XCT sample alone is too uncertain; in "
        "brackets: the number were the XCT mean known exactly). "
        "Sub-volumes of one tomogram are not independent electrodes, so the XCT intervals are "
        "optimistic.</p>")
    return "\n".join(lines)


def _comparison_html(table, cmp: xr.Dataset, level: float) -> str:
    deg = float(cmp.attrs.get("experiment_degree", np.nan))
    head = ("<h2>Comparison of scalar metrics</h2>"
            f"<p class='small'>Rows where p &lt; {1 - level:g} are highlighted."
            + ("" if math.isnan(deg) else
               f" The tomogram corresponds to {100 * deg:.0f}% compression: compare that "
               "degree's rows; the others are shown for context.") + "</p>")
    cols = ["metric", "units", "case", "degree", "simulation mean ± sd (n)",
            f"simulation {100 * level:g}% CI", "XCT mean ± sd (n)", f"XCT {100 * level:g}% CI",
            f"difference [{100 * level:g}% CI]", "p (Welch)", "δ",
            "realisations needed (if the XCT mean were exact)"]
    rows = []
    for _, r in table.iterrows():
        sig = isinstance(r["p_value"], float) and r["p_value"] < 1 - level
        cells = [
            r["metric"], r["units"], r["case"], f"{100 * float(r['degree']):.0f}%",
            f"{_num(r['sim_mean'])} ± {_num(r['sim_sd'], 2)} ({_num(r['sim_n'])})",
            f"[{_num(r['sim_ci_low'])}, {_num(r['sim_ci_high'])}]",
            f"{_num(r['xct_mean'])} ± {_num(r['xct_sd'], 2)} ({_num(r['xct_n'])})",
            f"[{_num(r['xct_ci_low'])}, {_num(r['xct_ci_high'])}]",
            f"{_num(r['difference'])} "
            f"[{_num(r['difference_ci_low'])}, {_num(r['difference_ci_high'])}]",
            _num(r["p_value"], 3), _num(r["delta"], 3),
            f"{_num(r['realisations_needed'])} ({_num(r['realisations_needed_exact_xct'])})",
        ]
        rows.append(f"<tr{' class=sig' if sig else ''}>"
                    + "".join(f"<td class='l'>{_e(c)}</td>" if k < 3 else f"<td>{_e(c)}</td>"
                              for k, c in enumerate(cells)) + "</tr>")
    return head + _table(cols, rows)


def _distribution_frame(dist: xr.Dataset) -> pd.DataFrame:
    frames = []
    for name in dist.data_vars:
        df = dist[name].to_dataset(dim="statistic").to_dataframe().reset_index()
        df.insert(0, "metric", name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _distribution_html(frame, dist: xr.Dataset) -> str:
    head = ("<h2>Distributions compared as distributions</h2><p class='small'>Histograms "
            "pooled over realisations and over sub-volumes. KS distance: largest gap between "
            "the pooled cumulative distributions. KS p: classical, treats every pore or "
            "particle as independent (too small when they cluster). Permutation p: exchanges "
            f"whole realisations and sub-volumes ({_e(dist.attrs.get('permutations', ''))} "
            "random relabellings at most, exact when fewer splits exist). Pore radii: pores "
            "above 1 µm only.</p>")
    if frame.empty:
        return head + "<p class='note'>No histogram metric is in both stores yet.</p>"
    cols = ["metric", "case", "degree", "realisations", "sub-volumes", "values (sim)",
            "values (XCT)", "KS distance", "KS p", "permutation p"]
    rows = []
    for _, r in frame.iterrows():
        cells = [r["metric"], r["case"], f"{100 * float(r['degree']):.0f}%",
                 _num(r["sim_units"]), _num(r["xct_units"]), _num(r["sim_values"]),
                 _num(r["xct_values"]), _num(r["ks_distance"], 3), _num(r["ks_p_value"], 3),
                 _num(r["permutation_p_value"], 3)]
        rows.append("<tr>" + "".join(f"<td class='l'>{_e(c)}</td>" if k < 2 else f"<td>{_e(c)}</td>"
                                     for k, c in enumerate(cells)) + "</tr>")
    return head + _table(cols, rows)


def _ensemble_html(sim: xr.Dataset, level: float) -> str:
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
                cells = [name, sim[name].attrs.get("units", ""), case, f"{100 * float(d):.0f}%",
                         f"{_num(g['mean'])} ± {_num(g['sd'], 2)} ({_num(g['n'])})",
                         f"[{_num(g['ci_low'])}, {_num(g['ci_high'])}]"]
                rows.append("<tr>" + "".join(f"<td class='l'>{_e(c)}</td>" if k < 3 else
                                             f"<td>{_e(c)}</td>" for k, c in enumerate(cells))
                            + "</tr>")
    return _table(cols, rows)


def _figures_html(figures: list[FigureResult], out: Path) -> str:
    parts = ["<h2>Figures</h2>"]
    for f in figures:
        if f.skipped:
            parts.append(f"<p class='note'>Skipped: {_e(f.title)} — {_e(f.skipped)}.</p>")
            continue
        png = f.png.relative_to(out) if f.png is not None else None
        svg = next((p.relative_to(out) for p in f.paths if p.suffix == ".svg"), None)
        parts.append(
            f"<figure id='{_e(f.key)}'><img src='{_e(png)}' alt='{_e(f.title)}'>"
            f"<figcaption><b>{_e(f.title)}.</b> {_e(f.caption)}"
            + (f" <a href='{_e(svg)}'>SVG</a>" if svg else "") + "</figcaption></figure>")
    return "\n".join(parts)


def _table(cols: list[str], rows: list[str]) -> str:
    head = "".join(f"<th class='l'>{_e(c)}</th>" if k < 3 else f"<th>{_e(c)}</th>"
                   for k, c in enumerate(cols))
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "</tbody></table>"
