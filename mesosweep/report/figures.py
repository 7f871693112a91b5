"""The paper's figures for whole ensembles, with the spread shown, as PNG and SVG.

Every function takes the sweep store's dataset (``sim``, as ``xr.open_zarr`` gives it), the
experimental sub-volumes (``xct``, or None) and an output folder, and returns a
:class:`FigureResult`: the files written, or the reason the figure was skipped (a metric that
is not in the store yet is never faked). Figures are drawn on :class:`matplotlib.figure.Figure`
objects with the Agg canvas, never through pyplot, so that the caller's backend (a notebook's
inline one, say) is left alone.

Conventions: porosity is plotted in per cent, compression degree in per cent of the dried
thickness, lengths in µm; dimensionless quantities say so. Ensemble spread is ±1 sample sd
(error bars or bands) over the finished realisations; shaded bands around a mean line are
the sd, error bars on XCT points are the sd over sub-volumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure

from mesosweep.analysis.compare import bin_edges, select_done
from mesosweep.analysis.metric_table import METRICS
from mesosweep.analysis.phases import AM, CBD
from mesosweep.analysis.voxelise import voxelise
from mesosweep.ensemble.layout import SweepLayout
from mesosweep.ensemble.xct_store import final_state_file
from mesosweep.stages.lammps_data import read_data

__all__ = ["FIGURES", "FigureResult", "all_figures"]

#: Colours of the simulated cases (matplotlib's tab10, in order) and of the experiment.
CASE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
XCT_COLOUR = "0.25"
PHASE_COLOURS = {"pore": "0.1", "am": "#c0392b", "cbd": "#2e86de"}
DPI = 150
#: XCT points at a compression degree are drawn this far (in % compression) to the right, so
#: that they do not hide the simulated point of the same degree.
XCT_NUDGE = 0.6


@dataclass
class FigureResult:
    """One figure of the report.

    Attributes
    ----------
    key : str
        File stem (``fig3a_porosity_vs_degree``).
    title : str
        Short title, e.g. "Porosity vs compression degree (paper Fig. 3A)".
    caption : str
        What the figure shows, conventions included.
    paths : list of pathlib.Path
        PNG and SVG written (empty when skipped).
    skipped : str or None
        Why the figure was not drawn.
    """

    key: str
    title: str
    caption: str = ""
    paths: list[Path] = field(default_factory=list)
    skipped: str | None = None

    @property
    def png(self) -> Path | None:
        """The PNG file, if drawn."""
        return next((p for p in self.paths if p.suffix == ".png"), None)


# --------------------------------------------------------------------------- helpers


def _save(fig: Figure, out_dir: Path, key: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in (".png", ".svg"):
        path = out_dir / f"{key}{suffix}"
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
        paths.append(path)
    return paths


def _missing(ds: xr.Dataset | None, names: tuple[str, ...], where: str) -> str | None:
    if ds is None:
        return f"no {where}"
    absent = [n for n in names if n not in ds]
    if absent:
        return f"{', '.join(absent)} not in the {where} yet"
    return None


def _finite(da: xr.DataArray) -> xr.DataArray:
    return da.where(np.isfinite(da))


def _cases(sim: xr.Dataset) -> list[str]:
    return [str(c) for c in sim["case"].values]


def _colour(k: int) -> str:
    return CASE_COLOURS[k % len(CASE_COLOURS)]


def _xct_degree(xct: xr.Dataset | None) -> float:
    return float(xct.attrs.get("degree", np.nan)) if xct is not None else np.nan


def _cbd_note(sim: xr.Dataset, xct: xr.Dataset | None) -> str:
    """Which CBD convention each side's porosity uses, and a warning when they differ."""
    try:
        sim_cbd = json.loads(sim.attrs.get("spec", "{}")).get("analysis", {}).get("cbd_as", "?")
    except ValueError:
        sim_cbd = "?"
    text = f"Simulated porosity counts CBD as {sim_cbd}"
    if xct is not None:
        xct_cbd = str(xct.attrs.get("cbd_as", "?"))
        text += f", XCT porosity as {xct_cbd}"
        if xct_cbd != sim_cbd:
            text += " (different conventions: the two are not directly comparable)"
    return text + "."


def _normalised(counts: xr.DataArray, bin_dim: str, widths: np.ndarray) -> xr.DataArray:
    """Counts per unit → probability density per unit (1/bin units); empty units give NaN."""
    total = counts.sum(bin_dim)
    return counts / total.where(total > 0) / xr.DataArray(widths, dims=bin_dim)


def _edges(ds: xr.Dataset, bin_dim: str) -> np.ndarray:
    edges = bin_edges(ds, bin_dim)
    if edges is not None:
        return edges
    # the declaration is the fallback, in case a store keeps no edges
    for metric in METRICS.values():
        if bin_dim in metric.coords and metric.coords[bin_dim].edges is not None:
            return np.asarray(metric.coords[bin_dim].edges, dtype=float)
    c = np.asarray(ds[bin_dim].values, dtype=float)
    half = np.diff(c) / 2
    return np.r_[c[0] - half[0], c[:-1] + half, c[-1] + half[-1]]


# --------------------------------------------------------------------------- Fig. 1B


def fig_xct_subvolumes(sim: xr.Dataset, xct: xr.Dataset | None, out_dir: Path) -> FigureResult:
    """Porosity and through-plane tortuosity factor of each XCT sub-volume (paper Fig. 1B)."""
    r = FigureResult("fig1b_xct_subvolumes", "XCT sub-volumes: porosity and tortuosity factor "
                     "(paper Fig. 1B)")
    r.skipped = _missing(xct, ("porosity", "tau_z"), "XCT sub-volume store")
    if r.skipped:
        return r
    por = 100 * xct["porosity"].values
    tau = xct["tau_z"].values
    ok = np.isfinite(por) & np.isfinite(tau)
    fig = Figure(figsize=(5.2, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(por[ok], tau[ok], facecolors="none", edgecolors=XCT_COLOUR, s=36,
               label=f"sub-volume (n = {int(ok.sum())})")
    if "representative" in xct:
        k = int(np.argmax(xct["representative"].values))
        ax.scatter([por[k]], [tau[k]], marker="*", s=160, color="#c0392b", zorder=3,
                   label=f"closest to the mean (#{k})")
    ax.errorbar(np.mean(por[ok]), np.mean(tau[ok]), xerr=np.std(por[ok], ddof=1),
                yerr=np.std(tau[ok], ddof=1), fmt="s", color="k", capsize=4, zorder=4,
                label="mean ± sd")
    ax.set_xlabel("porosity, pore + CBD (%)" if xct.attrs.get("cbd_as") == "pore"
                  else "porosity (%)")
    ax.set_ylabel("through-plane tortuosity factor τ_z (dimensionless)")
    ax.legend(fontsize=8)
    size = json.loads(xct.attrs.get("size_um", "[]"))
    ax.set_title("XCT sub-volumes" + (" of " + " × ".join(f"{v:.1f}" for v in size) + " µm"
                                      if size else ""), fontsize=10)
    r.paths = _save(fig, out_dir, r.key)
    r.caption = (f"Each hollow point is one of {int(ok.sum())} random XCT sub-volumes; the square "
                 "is their mean with ±1 sd bars; the star marks the sub-volume closest to the "
                 "mean (porosity and τ_z, each scaled by its sd). τ_z is computed with pore and "
                 "CBD as one conducting phase.")
    if (~ok).any():
        r.caption += (f" {int((~ok).sum())} sub-volume(s) without a finite τ_z (not "
                      "percolating) are not shown.")
    return r


# --------------------------------------------------------------------------- Fig. 3A


def fig_porosity_vs_degree(sim: xr.Dataset, xct: xr.Dataset | None, out_dir: Path) -> FigureResult:
    """Porosity against compression degree, ensemble vs experiment (paper Fig. 3A)."""
    r = FigureResult("fig3a_porosity_vs_degree", "Porosity vs compression degree (paper Fig. 3A)")
    r.skipped = _missing(sim, ("porosity",), "sweep store")
    if r.skipped:
        return r
    sim = select_done(sim)
    fig = Figure(figsize=(5.6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    deg = 100 * sim["degree"].values
    for k, case in enumerate(_cases(sim)):
        p = 100 * _finite(sim["porosity"].sel(case=case))
        for real in p["realisation"].values:
            ax.plot(deg, p.sel(realisation=real), color=_colour(k), alpha=0.3, lw=0.8)
        n = p.count("realisation").values
        ax.errorbar(deg, p.mean("realisation"), yerr=p.std("realisation", ddof=1), fmt="o-",
                    color=_colour(k), capsize=4,
                    label=f"simulation {case} (n = {int(n.max()) if n.size else 0})")
    xd = _xct_degree(xct)
    if xct is not None and "porosity" in xct:
        xp = 100 * _finite(xct["porosity"]).values
        xp = xp[np.isfinite(xp)]
        m, s = xp.mean(), xp.std(ddof=1) if xp.size > 1 else np.nan
        if np.isfinite(xd):
            ax.errorbar([100 * xd + XCT_NUDGE], [m], yerr=[s], fmt="s", mfc="none",
                        color=XCT_COLOUR, capsize=5, ms=8, label=f"XCT mean ± sd (n = {xp.size})")
        else:
            ax.axhspan(m - s, m + s, color=XCT_COLOUR, alpha=0.15)
            ax.axhline(m, color=XCT_COLOUR, ls="--",
                       label=f"XCT mean ± sd, degree unknown (n = {xp.size})")
    ax.set_xlabel("compression degree (% of dried thickness)")
    ax.set_ylabel("porosity (%)")
    ax.legend(fontsize=8)
    r.paths = _save(fig, out_dir, r.key)
    r.caption = ("Thin lines: single realisations; points with bars: ensemble mean ± 1 sd per "
                 "compression degree (0 = dried). XCT: mean ± sd over sub-volumes, placed (nudged "
                 "right) at the compression degree of the tomogram (a band when unknown). "
                 + _cbd_note(sim, xct))
    return r


# --------------------------------------------------------------------------- Fig. 3B


def fig_tau_vs_porosity(sim: xr.Dataset, xct: xr.Dataset | None, out_dir: Path) -> FigureResult:
    """Tortuosity factor against porosity along calendering, with the XCT points (Fig. 3B)."""
    r = FigureResult("fig3b_tau_vs_porosity", "Tortuosity factor vs porosity during "
                     "calendering (paper Fig. 3B)")
    r.skipped = _missing(sim, ("porosity", "tau_z"), "sweep store")
    if r.skipped:
        return r
    sim = select_done(sim)
    fig = Figure(figsize=(5.6, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for k, case in enumerate(_cases(sim)):
        p = 100 * _finite(sim["porosity"].sel(case=case))
        t = _finite(sim["tau_z"].sel(case=case))
        for real in p["realisation"].values:
            ax.plot(p.sel(realisation=real), t.sel(realisation=real), ".-", color=_colour(k),
                    alpha=0.3, lw=0.8)
        pm, tm = p.mean("realisation"), t.mean("realisation")
        ax.errorbar(pm, tm, xerr=p.std("realisation", ddof=1), yerr=t.std("realisation", ddof=1),
                    fmt="o-", color=_colour(k), capsize=3, label=f"simulation {case}, mean ± sd")
        for d, x, y in zip(sim["degree"].values, pm.values, tm.values, strict=True):
            if np.isfinite(x) and np.isfinite(y):
                ax.annotate(f"{100 * d:.0f}%", (x, y), textcoords="offset points", xytext=(5, 5),
                            fontsize=7, color=_colour(k))
    if xct is not None and "tau_z" in xct and "porosity" in xct:
        xp, xt = 100 * xct["porosity"].values, xct["tau_z"].values
        ok = np.isfinite(xp) & np.isfinite(xt)
        ax.scatter(xp[ok], xt[ok], facecolors="none", edgecolors=XCT_COLOUR, s=28,
                   label=f"XCT sub-volumes (n = {int(ok.sum())})")
        ax.errorbar(xp[ok].mean(), xt[ok].mean(), xerr=xp[ok].std(ddof=1), yerr=xt[ok].std(ddof=1),
                    fmt="s", color="k", capsize=4, label="XCT mean ± sd")
    ax.set_xlabel("porosity (%)")
    ax.set_ylabel("through-plane tortuosity factor τ_z (dimensionless)")
    ax.legend(fontsize=8)
    r.paths = _save(fig, out_dir, r.key)
    r.caption = ("Each thin line follows one realisation from the dried electrode through its "
                 "compression degrees (labels: degree); thick points are ensemble means with "
                 "±1 sd in both directions. τ_z treats pore and CBD as one conducting phase, "
                 "as XCT must. " + _cbd_note(sim, xct))
    return r


# --------------------------------------------------------------------------- Fig. 1D / 3D


def fig_phase_profiles(sim: xr.Dataset, xct: xr.Dataset | None, out_dir: Path) -> FigureResult:
    """Phase volume fractions along the normalised thickness (paper Figs. 1D and 3D/G)."""
    names = ("pore_profile", "am_profile", "cbd_profile")
    r = FigureResult("fig3d_phase_profiles", "Phase profiles along the normalised thickness "
                     "(paper Figs. 1D, 3D)")
    r.skipped = _missing(sim, names, "sweep store")
    if r.skipped:
        return r
    sim = select_done(sim)
    cases, degrees = _cases(sim), sim["degree"].values
    has_xct = xct is not None and all(n in xct for n in names)
    cols = len(degrees) + (1 if has_xct else 0)
    fig = Figure(figsize=(2.6 * cols, 2.6 * len(cases) + 0.6), layout="constrained")
    axes = fig.subplots(len(cases), cols, squeeze=False, sharex=True, sharey=True)
    z = sim["z_norm"].values
    labels = {"pore_profile": "pore", "am_profile": "AM", "cbd_profile": "CBD"}
    colours = {"pore_profile": PHASE_COLOURS["pore"], "am_profile": PHASE_COLOURS["am"],
               "cbd_profile": PHASE_COLOURS["cbd"]}

    def draw(ax, ds: xr.Dataset, dim: str, title: str) -> None:
        for name in names:
            v = _finite(ds[name])
            m, s = v.mean(dim).values, v.std(dim, ddof=1).values
            ax.plot(z, m, color=colours[name], label=labels[name])
            ax.fill_between(z, m - s, m + s, color=colours[name], alpha=0.2, lw=0)
        ax.set_title(title, fontsize=9)

    for i, case in enumerate(cases):
        for j, d in enumerate(degrees):
            one = sim.sel(case=case, degree=d)
            n = int(_finite(one["am_profile"]).isel(z_norm=0).count())
            draw(axes[i, j], one, "realisation", f"{case}, {100 * d:.0f}% (n = {n})")
        if has_xct:
            draw(axes[i, -1], xct, "subvolume", f"XCT (n = {xct.sizes['subvolume']})")
        axes[i, 0].set_ylabel("volume fraction (dimensionless)")
    fig.supxlabel("normalised thickness z/H (dimensionless): 0 current collector, 1 top surface",
                  fontsize=10)
    axes[0, 0].legend(fontsize=7, loc="best")
    r.paths = _save(fig, out_dir, r.key)
    r.caption = ("Volume fraction of pore, AM and CBD in 20 slabs from the current collector "
                 "(z/H = 0) to the mean top surface (z/H = 1); line: ensemble mean, band: ±1 "
                 "sd over realisations. Columns: compression degree (0% = dried).")
    if has_xct:
        r.caption += (" Last column: XCT sub-volumes (mean ± sd)"
                      + (", which are interior crops: their z/H runs over the crop, not from "
                         "current collector to surface." if not xct.attrs.get("full_thickness")
                         else "."))
    return r


# --------------------------------------------------------------------------- Fig. 4


def fig_pore_network(sim: xr.Dataset, xct: xr.Dataset | None, out_dir: Path) -> FigureResult:
    """Pore and throat size distributions, mean pore radius and coordination (paper Fig. 4)."""
    names = ("pore_radius_histogram", "throat_radius_histogram", "pore_radius_mean",
             "coordination_mean")
    r = FigureResult("fig4_pore_network", "Pore network: pore and throat sizes, coordination "
                     "(paper Fig. 4)")
    r.skipped = _missing(sim, names, "sweep store")
    if r.skipped:
        return r
    sim = select_done(sim)
    degrees = sim["degree"].values
    shown = sorted({float(degrees[0]), float(degrees[-1])})
    by_position = all(n in sim for n in ("pore_radius_profile", "coordination_profile"))
    fig = Figure(figsize=(10, 11.0 if by_position else 7.4), layout="constrained")
    axes = fig.subplots(3 if by_position else 2, 2)
    linestyles = {shown[0]: "-", shown[-1]: "--"}
    for ax, name, label, low in (
            (axes[0, 0], "pore_radius_histogram", "pore equivalent radius", 1.0),
            (axes[0, 1], "throat_radius_histogram", "throat equivalent radius", None)):
        bin_dim = sim[name].dims[-1]
        edges = _edges(sim, bin_dim)
        keep = edges[1:] > (low if low is not None else -np.inf) + 1e-12
        centres, widths = 0.5 * (edges[1:] + edges[:-1])[keep], np.diff(edges)[keep]
        for k, case in enumerate(_cases(sim)):
            for d in shown:
                values = _finite(sim[name].sel(case=case, degree=d)).isel({bin_dim: keep})
                dens = _normalised(values, bin_dim, widths)
                m, s = dens.mean("realisation").values, dens.std("realisation", ddof=1).values
                ax.plot(centres, m, linestyles[d], color=_colour(k), drawstyle="steps-mid",
                        label=f"{case}, {100 * d:.0f}%")
                ax.fill_between(centres, m - s, m + s, color=_colour(k), alpha=0.15, lw=0,
                                step="mid")
        if xct is not None and name in xct:
            dens = _normalised(_finite(xct[name]).isel({bin_dim: keep}), bin_dim, widths)
            ax.errorbar(centres, dens.mean("subvolume"), yerr=dens.std("subvolume", ddof=1),
                        fmt="s", mfc="none", ms=4, color=XCT_COLOUR, capsize=2,
                        label="XCT mean ± sd")
        # Stop the axis after the last occupied bin: the edges run far beyond small electrodes.
        occupied = np.flatnonzero(np.nansum(sim[name].isel({bin_dim: keep}).values,
                                            axis=tuple(range(sim[name].ndim - 1))) > 0)
        if xct is not None and name in xct:
            occupied = np.union1d(occupied, np.flatnonzero(
                np.nansum(xct[name].isel({bin_dim: keep}).values, axis=0) > 0))
        if occupied.size:
            ax.set_xlim(edges[keep.argmax()], centres[occupied.max()] + widths[occupied.max()])
        ax.set_xlabel(f"{label} (µm)")
        ax.set_ylabel("probability density (1/µm)")
        ax.legend(fontsize=7)
    for ax, name, label in ((axes[1, 0], "pore_radius_mean", "mean pore radius (µm)"),
                            (axes[1, 1], "coordination_mean",
                             "mean coordination number (dimensionless)")):
        for k, case in enumerate(_cases(sim)):
            v = _finite(sim[name].sel(case=case))
            ax.errorbar(100 * degrees, v.mean("realisation"), yerr=v.std("realisation", ddof=1),
                        fmt="o-", color=_colour(k), capsize=4, label=f"simulation {case}")
        if xct is not None and name in xct:
            xv = _finite(xct[name]).values
            xv = xv[np.isfinite(xv)]
            xd = _xct_degree(xct)
            if xv.size and np.isfinite(xd):
                sd = xv.std(ddof=1) if xv.size > 1 else 0
                ax.errorbar([100 * xd + XCT_NUDGE], [xv.mean()], yerr=[sd], fmt="s", mfc="none",
                            color=XCT_COLOUR, capsize=5, label="XCT mean ± sd")
            elif xv.size:
                ax.axhline(xv.mean(), color=XCT_COLOUR, ls="--", label="XCT mean (degree unknown)")
        ax.set_xlabel("compression degree (% of dried thickness)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    if by_position:  # paper Fig. 4C-H: size and coordination of the pores along the thickness
        z = sim["z_norm"].values
        for ax, name, label in ((axes[2, 0], "pore_radius_profile", "mean pore radius (µm)"),
                                (axes[2, 1], "coordination_profile",
                                 "mean coordination number (dimensionless)")):
            for k, case in enumerate(_cases(sim)):
                for d in shown:
                    v = sim[name].sel(case=case, degree=d)
                    m = v.mean("realisation", skipna=True).values
                    ax.plot(z, m, linestyles[d], marker="o", ms=3, color=_colour(k),
                            label=f"{case}, {100 * d:.0f}%")
            ax.set_xlabel("normalised thickness z/H (dimensionless)")
            ax.set_ylabel(label)
            ax.legend(fontsize=7)
    r.paths = _save(fig, out_dir, r.key)
    r.caption = ("Top: distributions of pore equivalent radius (pores above 1 µm, the paper's "
                 "threshold) and of throat equivalent radius (throats between two such pores), "
                 "for the dried (solid) and most compressed (dashed) electrode: ensemble mean "
                 "density with ±1 sd band over realisations; XCT sub-volumes as squares "
                 "(mean ± sd). Bottom: mean pore radius and mean coordination number of pores "
                 "above 1 µm against compression degree, mean ± sd."
                 + (" Third row: the same against the position of the pores' centroids along "
                    "the normalised thickness (paper Fig. 4C–H), dried (solid) and most "
                    "compressed (dashed), ensemble mean per slab." if by_position else ""))
    return r


# --------------------------------------------------------------------------- Fig. 5


def fig_sphericity(sim: xr.Dataset, xct: xr.Dataset | None, out_dir: Path) -> FigureResult:
    """Krumbein sphericity distributions before and after calendering (paper Fig. 5)."""
    name = "sphericity_histogram"
    r = FigureResult("fig5_sphericity", "Krumbein sphericity before and after calendering "
                     "(paper Fig. 5)")
    r.skipped = _missing(sim, (name,), "sweep store")
    if r.skipped:
        return r
    sim = select_done(sim)
    degrees = sim["degree"].values
    shown = sorted({float(degrees[0]), float(degrees[-1])})
    cases = _cases(sim)
    fig = Figure(figsize=(4.2 * len(shown), 3.2 * len(cases) + 0.4), layout="constrained")
    axes = fig.subplots(len(cases), len(shown), squeeze=False, sharex=True, sharey=True)
    bin_dim = sim[name].dims[-1]
    edges = _edges(sim, bin_dim)
    centres, widths = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    x_dens = None
    if xct is not None and name in xct:
        x_dens = _normalised(_finite(xct[name]), bin_dim, widths)
        x_total = int(np.nansum(xct[name].values))
    for i, case in enumerate(cases):
        for j, d in enumerate(shown):
            ax = axes[i, j]
            counts = _finite(sim[name].sel(case=case, degree=d))
            dens = _normalised(counts, bin_dim, widths)
            m, s = dens.mean("realisation").values, dens.std("realisation", ddof=1).values
            ax.bar(centres, m, width=widths, color=_colour(i), alpha=0.6, yerr=s,
                   error_kw={"elinewidth": 0.8, "capsize": 2},
                   label=f"simulation ({int(np.nansum(counts.values))} particles, "
                         f"{int(counts.isel({bin_dim: 0}).count())} realisations)")
            if x_dens is not None:
                ax.errorbar(centres, x_dens.mean("subvolume"), yerr=x_dens.std("subvolume", ddof=1),
                            fmt="s", mfc="none", ms=4, color=XCT_COLOUR, capsize=2,
                            label=f"XCT ({x_total} particle{'s' if x_total != 1 else ''})")
                if x_total < 20:
                    ax.text(0.02, 0.6, f"only {x_total} whole XCT particle(s):\nsub-volumes too "
                            "small for shapes", transform=ax.transAxes, fontsize=7,
                            color=XCT_COLOUR)
            state = "dried" if d == 0 else f"{100 * d:.0f}% compression"
            ax.set_title(f"{case}, {state}", fontsize=9)
            ax.legend(fontsize=7, loc="upper left")
        axes[i, 0].set_ylabel("probability density (dimensionless)")
    fig.supxlabel("Krumbein sphericity (bc/a²)^(1/3) (dimensionless)", fontsize=10)
    r.paths = _save(fig, out_dir, r.key)
    r.caption = ("Distribution of the Krumbein sphericity of the secondary particles before "
                 "(left) and after the largest compression (right): bars are the mean density "
                 "over realisations with ±1 sd; XCT squares are the mean ± sd over sub-volumes "
                 "of the watershed-separated particles that lie wholly inside a sub-volume. "
                 "The paper finds the peak at 0.7–0.8 both before and after.")
    return r


# --------------------------------------------------------------------------- Fig. 3E


def fig_cross_section(sim: xr.Dataset, xct: xr.Dataset | None, out_dir: Path, *,
                      store: Path | None = None) -> FigureResult:
    """Cross-section of a simulated electrode coloured by phase and particle (Fig. 3E/H)."""
    r = FigureResult("fig3e_cross_section", "Cross-section of a simulated electrode (paper "
                     "Fig. 3E, H)")
    if store is None:
        r.skipped = "the store's path is needed to find the realisations' work directory"
        return r
    done = np.asarray(sim["status"].values == 2) if "status" in sim else None
    degrees = [float(d) for d in sim["degree"].values]
    shown = sorted({degrees[0], degrees[-1]})
    picks = []
    for i, case in enumerate(_cases(sim)):
        for real in sim["realisation"].values:
            if done is not None and not done[i, int(real)]:
                continue
            files = [final_state_file(store, case, int(real), d) for d in shown]
            if all(f.is_file() for f in files):
                picks.append((case, int(real), files))
                break
    if not picks:
        r.skipped = (f"no finished realisation with its final states in "
                     f"{SweepLayout(Path(store)).workdir}")
        return r
    try:
        voxel = float(json.loads(sim.attrs["spec"])["analysis"]["voxel_size_um"])
    except (KeyError, ValueError):
        voxel = 0.25
    images, diameters = [], []
    for _, _, files in picks:
        row = []
        for f in files:
            st = read_data(f)
            phase, part = voxelise(st.position_um - st.box_lo, st.diameter_um, st.phase,
                                   np.where(st.phase == AM, st.molecule, 0), st.box_um, voxel)
            # Volume-equivalent diameter of each secondary, for the colour scale (as the paper:
            # light to dark red with particle size).
            vox = np.bincount(part.reshape(-1))
            diam = np.cbrt(6 * vox * voxel**3 / np.pi)
            diameters.append(diam[1:][vox[1:] > 0])
            top = max(1, int(np.ceil(np.flatnonzero((phase != 0).any(axis=(0, 1))).max() + 2)))
            y = phase.shape[1] // 2
            row.append((phase[:, y, :top], part[:, y, :top], diam))
        images.append(row)
    all_d = np.concatenate(diameters) if diameters else np.array([1.0])
    norm = Normalize(vmin=float(all_d.min()), vmax=float(all_d.max()) + 1e-9)
    # The lightest reds of the colour map vanish against white pores: use its 0.35-1 part,
    # for the image and the colour bar alike.
    cmap = ListedColormap(colormaps["Reds"](np.linspace(0.35, 1.0, 256)))
    height = max(img[0].shape[1] for row in images for img in row) * voxel
    width = max(img[0].shape[0] for row in images for img in row) * voxel
    fig = Figure(figsize=(min(3.2 * len(shown) * max(width / height, 0.4) + 1.2, 14),
                          2.8 * len(picks) + 0.6))
    axes = fig.subplots(len(picks), len(shown), squeeze=False)
    for i, (case, real, _) in enumerate(picks):
        for j, d in enumerate(shown):
            phase, part, diam = images[i][j]
            rgb = np.ones(phase.shape + (3,))
            rgb[phase == CBD] = (0.18, 0.53, 0.87)
            am = phase == AM
            rgb[am] = cmap(norm(diam[part[am]]))[:, :3]
            ax = axes[i, j]
            ax.imshow(np.transpose(rgb, (1, 0, 2)), origin="lower", interpolation="nearest",
                      extent=(0, phase.shape[0] * voxel, 0, phase.shape[1] * voxel))
            state = "dried" if d == 0 else f"{100 * d:.0f}% compression"
            ax.set_title(f"{case} r{real:04d}, {state}", fontsize=9)
            ax.set_xlabel("x (µm)")
            if j == 0:
                ax.set_ylabel("z, height above current collector (µm)")
    sm = ScalarMappable(norm=Normalize(norm.vmin, norm.vmax), cmap=cmap)
    fig.colorbar(sm, ax=axes.ravel().tolist(), shrink=0.8,
                 label="secondary particle volume-equivalent diameter (µm)")
    r.paths = _save(fig, out_dir, r.key)
    r.caption = (f"x–z cross-section through the middle of the box (voxel {voxel:g} µm) of the "
                 "first finished realisation of each case, dried (left) and most compressed "
                 "(right): white pore, blue CBD, AM in red from light (small secondary "
                 "particles) to dark (large), as in the paper.")
    return r


#: Every figure of the report, in the report's order.
FIGURES: tuple[Callable[..., FigureResult], ...] = (
    fig_xct_subvolumes, fig_porosity_vs_degree, fig_tau_vs_porosity, fig_phase_profiles,
    fig_pore_network, fig_sphericity, fig_cross_section,
)


def all_figures(sim: xr.Dataset, xct: xr.Dataset | None, out_dir: Path, *,
                store: Path | None = None) -> list[FigureResult]:
    """Draw every figure that the data allow; the others come back with ``skipped`` set.

    Parameters
    ----------
    sim : xarray.Dataset
        The sweep store.
    xct : xarray.Dataset or None
        The XCT sub-volumes.
    out_dir : pathlib.Path
        Folder for the PNG and SVG files (created).
    store : pathlib.Path, optional
        Path of the sweep store, to find its work directory for the cross-section.

    Returns
    -------
    list of FigureResult
        In :data:`FIGURES` order.
    """
    out_dir = Path(out_dir)
    results = []
    for make in FIGURES:
        kwargs = {"store": store} if make is fig_cross_section else {}
        results.append(make(sim, xct, out_dir, **kwargs))
    return results
