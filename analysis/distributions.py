"""Fixed-bin histograms and summary quantiles of variable-length results.

Per-pore radii or per-particle sphericities have a different length for every electrode, so
the results store keeps them as histograms on fixed bin edges (the edges become
coordinates) plus a few quantiles.

Conventions
-----------
* Bins are half-open, ``[e_i, e_{i+1})``, except the last, which also holds values equal to
  its upper edge (NumPy's convention).
* Values below the first edge are counted in ``underflow``, values above the last edge in
  ``overflow`` (``-inf`` and ``+inf`` included): nothing is dropped, and
  ``underflow + counts.sum() + overflow`` is the number of values. NaN is an error.
* ``density`` is normalised by *all* values, in range or not:
  ``sum(density * widths) = counts.sum() / n``, which is 1 only when nothing fell outside.
* Quantiles are taken over all values (NumPy's linear interpolation), so they do not depend
  on the bin edges; they are NaN when there are no values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["QUANTILES", "Histogram", "histogram", "quantiles"]

#: Probabilities of the summary quantiles (5, 25, 50, 75 and 95 %).
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class Histogram:
    """Counts of values on fixed bins.

    Attributes
    ----------
    edges : numpy.ndarray, shape (n_bins + 1,)
        Bin edges, strictly increasing, in the unit of the values.
    counts : numpy.ndarray of int64, shape (n_bins,)
        Number of values per bin.
    density : numpy.ndarray, shape (n_bins,)
        ``counts / (n * width)`` with ``n`` the number of all values (0 when ``n`` = 0),
        in 1 / (unit of the values).
    underflow : int
        Number of values below ``edges[0]``.
    overflow : int
        Number of values above ``edges[-1]``.
    """

    edges: np.ndarray
    counts: np.ndarray
    density: np.ndarray
    underflow: int
    overflow: int

    @property
    def total(self) -> int:
        """Number of values counted, in range or not."""
        return int(self.counts.sum()) + self.underflow + self.overflow

    @property
    def centres(self) -> np.ndarray:
        """Bin centres, in the unit of the values."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])


def histogram(values: ArrayLike, edges: ArrayLike) -> Histogram:
    """Histogram of ``values`` on the given ``edges``, with under- and overflow.

    Parameters
    ----------
    values : array_like of float
        Values of any unit (e.g. pore radii in µm); flattened.
    edges : array_like of float, shape (n_bins + 1,)
        Strictly increasing, finite bin edges in the same unit; at least two.

    Returns
    -------
    Histogram
        Counts, density, under- and overflow.

    Raises
    ------
    ValueError
        If ``edges`` are not strictly increasing and finite, or a value is NaN.
    """
    edges = _check_edges(edges)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if np.any(np.isnan(v)):
        raise ValueError("values contain NaN; a histogram would have to drop them")
    underflow = int(np.count_nonzero(v < edges[0]))
    overflow = int(np.count_nonzero(v > edges[-1]))
    inside = v[(v >= edges[0]) & (v <= edges[-1])]
    counts, _ = np.histogram(inside, bins=edges)
    n = v.size
    widths = np.diff(edges)
    density = counts / (n * widths) if n else np.zeros(counts.size)
    return Histogram(edges, counts.astype(np.int64), density, underflow, overflow)


def quantiles(values: ArrayLike, probabilities: ArrayLike = QUANTILES) -> np.ndarray:
    """Quantiles of ``values`` (all of them, whatever any bin edges), NaN when empty.

    Parameters
    ----------
    values : array_like of float
        Values of any unit; flattened. NaN is an error.
    probabilities : array_like of float, default :data:`QUANTILES`
        Probabilities in [0, 1].

    Returns
    -------
    numpy.ndarray, shape (len(probabilities),)
        Quantiles in the unit of the values.
    """
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ValueError(f"probabilities must lie in [0, 1], got {probabilities!r}")
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if np.any(np.isnan(v)):
        raise ValueError("values contain NaN")
    if v.size == 0:
        return np.full(p.size, np.nan)
    return np.quantile(v, p)


def _check_edges(edges: ArrayLike) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64).reshape(-1)
    if e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
        raise ValueError(f"edges must be >= 2 finite, strictly increasing values, got {edges!r}")
    return e
