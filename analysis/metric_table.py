"""The declaration of every metric of one electrode state: names, units, dims, bins.

:func:`metrics_table` says, for every name that :func:`analysis.summary.electrode_metrics`
returns, the dimensions beyond ``(case, realisation, degree)``, the units, a description and
the coordinate values (with bin edges for histograms). The results store creates its variables
from it and the XCT sub-volumes are shaped by it. It is plain numpy, apart from the metrics
themselves, so that whoever only needs the shape of the results (the store, a reader) does not
load the image-processing libraries that compute them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from mesosweep.analysis.distributions import QUANTILES

__all__ = [
    "METRICS",
    "ORIENTATION_EDGES_DEG",
    "PORE_RADIUS_EDGES_UM",
    "RADIUS_THRESHOLD_UM",
    "SPHERICITY_EDGES",
    "THROAT_RADIUS_EDGES_UM",
    "Coordinate",
    "Metric",
    "metrics_table",
]

#: Pore equivalent-radius bins, µm: 0.5 µm wide up to 12 µm (the 1 µm threshold is an edge).
PORE_RADIUS_EDGES_UM = np.round(np.arange(0.0, 12.0 + 1e-9, 0.5), 6)
#: Throat equivalent-radius bins, µm: 0.25 µm wide up to 6 µm.
THROAT_RADIUS_EDGES_UM = np.round(np.arange(0.0, 6.0 + 1e-9, 0.25), 6)
#: Krumbein sphericity bins: 0.05 wide on [0, 1].
SPHERICITY_EDGES = np.round(np.linspace(0.0, 1.0, 21), 6)
#: Major-axis angle to the through-plane axis, degrees: 10° bins on [0, 90].
ORIENTATION_EDGES_DEG = np.linspace(0.0, 90.0, 10)

#: Pores (and the throats between them) above this equivalent radius enter the statistics, µm.
RADIUS_THRESHOLD_UM = 1.0


@dataclass(frozen=True)
class Coordinate:
    """Values along one dimension of a metric.

    Attributes
    ----------
    values : numpy.ndarray
        Coordinate values (bin centres for histogram bins).
    units : str
        Units of the values ("1" when dimensionless, "" for labels).
    description : str
        What the coordinate is.
    edges : numpy.ndarray or None
        Bin edges (length ``len(values) + 1``) for histogram bins, else None.
    long_name : str
        A short name, what a plot labels its axis with (CF ``long_name``).
    """

    values: np.ndarray
    units: str
    description: str
    edges: np.ndarray | None = None
    long_name: str = ""

    def variables(self, dim: str) -> dict[str, tuple]:
        """The coordinate ``dim`` as xarray variables with CF attributes: its values and, for
        bins, a bounds variable ``<dim>_bounds`` of shape (n, 2) (lower and upper edge of each
        bin) that the coordinate's ``bounds`` attribute names."""
        values = np.asarray(self.values)
        if values.dtype.kind in "US":
            values = values.astype(object)  # variable-length strings: zarr v3 has them
        attrs = {"long_name": self.long_name, "units": self.units,
                 "description": self.description}
        if not self.units:  # labels have no units (CF: no attribute rather than an empty one)
            del attrs["units"]
        out = {dim: (dim, values, attrs)}
        if self.edges is not None:
            edges = np.asarray(self.edges, dtype=float)
            attrs["bounds"] = bounds_name(dim)
            out[bounds_name(dim)] = ((dim, BOUNDS_DIM), np.stack([edges[:-1], edges[1:]], axis=1),
                                     {"long_name": f"edges of {self.long_name} bins",
                                      "units": self.units})
        return out


@dataclass(frozen=True)
class Metric:
    """Declaration of one returned metric.

    Attributes
    ----------
    dims : tuple of str
        Dimensions beyond ``(case, realisation, degree)``; empty for a scalar.
    units : str
        Units ("1" when dimensionless).
    description : str
        Definition, conventions included.
    coords : dict of str to Coordinate
        One entry per name in ``dims``.
    long_name : str
        A short name, what a plot labels its axis with (CF ``long_name``).
    """

    dims: tuple[str, ...]
    units: str
    description: str
    coords: dict[str, Coordinate] = field(default_factory=dict)
    long_name: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the value beyond ``(case, realisation, degree)``."""
        return tuple(len(self.coords[d].values) for d in self.dims)


#: The CF conventions the results store and the XCT sub-volumes follow (long_name, units,
#: bounds of the bins, flags).
CONVENTIONS = "CF-1.11"
#: Second dimension of the bins' bounds variables (CF cell boundaries): lower, upper edge.
BOUNDS_DIM = "bounds"


def bounds_name(dim: str) -> str:
    """Name of the bounds variable of the binned coordinate ``dim`` (CF ``bounds``)."""
    return f"{dim}_bounds"


def _bins(edges: np.ndarray, units: str, what: str) -> Coordinate:
    centres = 0.5 * (edges[1:] + edges[:-1])
    return Coordinate(centres, units, f"bin centres of {what}; edges in the variable the "
                      "'bounds' attribute names", edges, long_name=what)


def metrics_table(profile_bins: int = 20) -> dict[str, Metric]:
    """The declaration of every metric :func:`analysis.summary.electrode_metrics` returns.

    Parameters
    ----------
    profile_bins : int, default 20
        Number of bins of the thickness profiles (must match the call).

    Returns
    -------
    dict of str to Metric
        Keyed by metric name, in the order the metrics are returned.
    """
    z_edges = np.linspace(0.0, 1.0, int(profile_bins) + 1)
    z_norm = Coordinate(
        0.5 * (z_edges[1:] + z_edges[:-1]),
        "1",
        "normalised thickness z / H (0: current collector, 1: mean top surface), bin centres",
        z_edges,
        long_name="normalised thickness z/H",
    )
    quantile = Coordinate(np.array(QUANTILES), "1", "probability of the quantile",
                          long_name="quantile probability")
    side = Coordinate(np.array(["below", "above"]), "",
                      "values below the first / above the last edge", long_name="out of range")
    axis = Coordinate(np.array(["a", "b", "c"]), "", "inertia-ellipsoid semi-axis, a >= b >= c",
                      long_name="semi-axis")
    pore_bins = _bins(PORE_RADIUS_EDGES_UM, "um", "pore equivalent radius")
    throat_bins = _bins(THROAT_RADIUS_EDGES_UM, "um", "throat equivalent radius")
    sph_bins = _bins(SPHERICITY_EDGES, "1", "Krumbein sphericity")
    ori_bins = _bins(ORIENTATION_EDGES_DEG, "degree", "major-axis angle to the through-plane axis")

    def m(dims: tuple[str, ...], units: str, text: str, **coords: Coordinate) -> Metric:
        return Metric(dims, units, text, dict(coords))

    tau = (
        "tortuosity factor eps D0 / D_eff from steady diffusion along {ax} over the electrode "
        "region, {cbd}; eps counts every conducting voxel; inf when nothing percolates"
    )
    merged = "pore and CBD as one conducting phase"
    blocked = "CBD blocking (pore phase only)"
    above = f"pores with equivalent radius > {RADIUS_THRESHOLD_UM:g} um"
    table = {
        "porosity": m((), "1", "pore volume fraction of the electrode region (CBD per cbd_as)"),
        "thickness": m((), "um", "mean electrode thickness (top face of the highest solid "
                       "voxel per column)"),
        "tau_z": m((), "1", tau.format(ax="z (through-plane)", cbd=merged)),
        "tau_x": m((), "1", tau.format(ax="x (in-plane)", cbd=merged)),
        "tau_z_cbd_solid": m((), "1", tau.format(ax="z (through-plane)", cbd=blocked)),
        "tau_x_cbd_solid": m((), "1", tau.format(ax="x (in-plane)", cbd=blocked)),
        "pore_profile": m(("z_norm",), "1", "pore volume fraction along the thickness "
                          "(CBD apart)", z_norm=z_norm),
        "am_profile": m(("z_norm",), "1", "active-material volume fraction along the "
                        "thickness", z_norm=z_norm),
        "cbd_profile": m(("z_norm",), "1", "CBD volume fraction along the thickness",
                         z_norm=z_norm),
        "pore_count": m((), "1", f"number of {above}"),
        "pore_radius_mean": m((), "um", f"mean equivalent radius (3V/4pi)^(1/3) of {above}"),
        "pore_radius_quantiles": m(("quantile",), "um", f"quantiles of the equivalent "
                                   f"radius of {above}", quantile=quantile),
        "pore_radius_histogram": m(("pore_radius_bin",), "1", "number of pores (all sizes) "
                                   "per equivalent-radius bin", pore_radius_bin=pore_bins),
        "pore_radius_out_of_range": m(("range_side",), "1", "pores outside the radius bins",
                                      range_side=side),
        "coordination_mean": m((), "1", f"mean number of throats (to pores of any size) of "
                               f"{above}"),
        "pore_radius_profile": m(("z_norm",), "um", f"mean equivalent radius of {above}, by "
                                 "the position of their centroid along the thickness (NaN "
                                 "where a slab holds none)", z_norm=z_norm),
        "coordination_profile": m(("z_norm",), "1", f"mean coordination number of {above}, by "
                                  "the position of their centroid along the thickness (NaN "
                                  "where a slab holds none)", z_norm=z_norm),
        "throat_radius_quantiles": m(("quantile",), "um", "quantiles of the equivalent "
                                     "throat radius sqrt(area/pi), throats between two "
                                     "pores above the threshold", quantile=quantile),
        "throat_radius_histogram": m(("throat_radius_bin",), "1", "number of throats between "
                                     "two pores above the threshold per equivalent-radius "
                                     "bin", throat_radius_bin=throat_bins),
        "throat_radius_out_of_range": m(("range_side",), "1", "throats outside the radius "
                                        "bins", range_side=side),
        "particle_count": m((), "1", "number of secondary particles measured"),
        "sphericity_quantiles": m(("quantile",), "1", "quantiles of the Krumbein sphericity "
                                  "(bc/a^2)^(1/3) of the secondary particles",
                                  quantile=quantile),
        "sphericity_histogram": m(("sphericity_bin",), "1", "number of secondary particles "
                                  "per sphericity bin", sphericity_bin=sph_bins),
        "orientation_mean": m((), "degree", "mean angle between particle major axes and the "
                              "through-plane axis (57.3 for random orientation)"),
        "orientation_histogram": m(("orientation_bin",), "1", "number of particles per "
                                   "major-axis angle bin", orientation_bin=ori_bins),
        "deformation_mean": m(("semi_axis",), "1", "mean relative change of each semi-axis "
                              "from the reference state (after/before - 1); NaN without a "
                              "reference", semi_axis=axis),
        "rotation_mean": m((), "degree", "mean angle between each particle's major axes in the "
                           "reference state and this one; NaN without a reference"),
    }
    return {name: replace(metric, long_name=LONG_NAMES[name]) for name, metric in table.items()}


#: What a plot labels each metric's axis with (CF ``long_name``); the definition is its
#: description.
LONG_NAMES = {
    "porosity": "porosity", "thickness": "electrode thickness",
    "tau_z": "tortuosity factor, through-plane", "tau_x": "tortuosity factor, in-plane",
    "tau_z_cbd_solid": "tortuosity factor, through-plane, CBD blocking",
    "tau_x_cbd_solid": "tortuosity factor, in-plane, CBD blocking",
    "pore_profile": "pore fraction", "am_profile": "active-material fraction",
    "cbd_profile": "CBD fraction", "pore_count": "number of pores",
    "pore_radius_mean": "mean pore radius", "pore_radius_quantiles": "pore radius",
    "pore_radius_histogram": "pores per radius bin",
    "pore_radius_out_of_range": "pores outside the radius bins",
    "coordination_mean": "mean coordination number", "pore_radius_profile": "mean pore radius",
    "coordination_profile": "mean coordination number", "throat_radius_quantiles": "throat radius",
    "throat_radius_histogram": "throats per radius bin",
    "throat_radius_out_of_range": "throats outside the radius bins",
    "particle_count": "number of particles", "sphericity_quantiles": "sphericity",
    "sphericity_histogram": "particles per sphericity bin", "orientation_mean": "mean orientation",
    "orientation_histogram": "particles per orientation bin",
    "deformation_mean": "mean semi-axis change", "rotation_mean": "mean rotation",
}


#: Declaration of every metric of :func:`analysis.summary.electrode_metrics`, default profile bins.
METRICS: dict[str, Metric] = metrics_table()
