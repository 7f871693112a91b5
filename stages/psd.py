"""Target particle-size distributions (PSD) given as a table of size classes.

A PSD table lists size classes: each row is a class's representative (centre) diameter in µm
and the *number* fraction of secondary particles in it. It is read from a two-column CSV file
with the header ``diameter_um,number_fraction`` or given inline in a sweep spec as
``[[diameter_um, number_fraction], …]``. The structure builder turns it into a sample of target
diameters (:func:`target_sample`) and draws database particles to match it.

Parsing needs the standard library only, so the sweep-spec validation can check a table without
the numerical stack; :func:`target_sample` uses numpy.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "FRACTION_SUM_TOLERANCE",
    "PSD_HEADER",
    "PsdTable",
    "as_psd_table",
    "class_edges_um",
    "parse_psd_rows",
    "read_psd_table",
    "target_sample",
]

#: The header a PSD CSV file must start with (units in the column names).
PSD_HEADER = ("diameter_um", "number_fraction")
#: How far the fractions may sum from 1 (published tables are rounded); they are renormalised.
FRACTION_SUM_TOLERANCE = 0.01
#: Size of the deterministic target sample; large enough that its own discreteness adds less
#: than 1e-3 to a Kolmogorov–Smirnov distance, small enough to cost nothing.
SAMPLE_SIZE = 10_000


@dataclass(frozen=True)
class PsdTable:
    """A validated number-weighted PSD.

    Attributes
    ----------
    diameter_um : tuple of float
        Class centre diameters, µm, strictly increasing, all > 0.
    number_fraction : tuple of float
        Number fraction of each class, >= 0, renormalised to sum to exactly 1.
    """

    diameter_um: tuple[float, ...]
    number_fraction: tuple[float, ...]


def _number(text: object, row: str, column: str) -> float:
    """A finite float from a table cell, or ValueError naming the row and column."""
    if isinstance(text, bool):
        raise ValueError(f"{row}: {column} got {text!r}; expected a number")
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{row}: {column} got {text!r}; expected a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{row}: {column} got {text!r}; expected a finite number")
    return value


def parse_psd_rows(rows: Iterable[Sequence[object]], *,
                   labels: Sequence[str] | None = None) -> PsdTable:
    """Validate rows of ``(diameter_um, number_fraction)`` and return the normalised table.

    Parameters
    ----------
    rows : iterable of 2-sequences
        Class centre diameter (µm) and number fraction, one class per row.
    labels : sequence of str, optional
        How each row is named in messages (a file reader passes ``"line 7"`` …); ``row i``
        counting from 1 by default.

    Returns
    -------
    PsdTable

    Raises
    ------
    ValueError
        One line naming the first problem and the fix: a row without exactly two numbers, a
        non-positive diameter, diameters not strictly increasing, a negative fraction, no
        positive fraction, or fractions not summing to 1 within ``FRACTION_SUM_TOLERANCE``.
    """
    diameters: list[float] = []
    fractions: list[float] = []
    for i, row in enumerate(rows, start=1):
        label = labels[i - 1] if labels is not None else f"row {i}"
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence) or len(row) != 2:
            raise ValueError(
                f"{label}: got {row!r}; expected two values, diameter_um and number_fraction")
        d = _number(row[0], label, "diameter_um")
        f = _number(row[1], label, "number_fraction")
        if d <= 0:
            raise ValueError(f"{label}: diameter_um got {d!r}; diameters must be > 0 µm")
        if diameters and d <= diameters[-1]:
            raise ValueError(
                f"{label}: diameter_um got {d!r} after {diameters[-1]!r}; list the classes "
                "with strictly increasing diameters, each once"
            )
        if f < 0:
            raise ValueError(f"{label}: number_fraction got {f!r}; fractions must be >= 0")
        diameters.append(d)
        fractions.append(f)
    if not diameters:
        raise ValueError(
            "the PSD table has no rows; give at least one class (diameter_um, number_fraction)")
    total = math.fsum(fractions)
    if total <= 0:
        raise ValueError("every number_fraction is 0; at least one class must hold particles")
    if abs(total - 1.0) > FRACTION_SUM_TOLERANCE:
        per_cent = abs(total - 100.0) <= 100 * FRACTION_SUM_TOLERANCE
        hint = "; they look like per cent: divide by 100" if per_cent else ""
        raise ValueError(
            f"the number fractions sum to {total:.6g}; they must sum to 1 "
            f"(within {FRACTION_SUM_TOLERANCE}){hint}"
        )
    return PsdTable(tuple(diameters), tuple(f / total for f in fractions))


def read_psd_table(path: str | os.PathLike[str]) -> PsdTable:
    """Read a PSD CSV file: header ``diameter_um,number_fraction``, then one class per line.

    Blank lines and lines starting with ``#`` are ignored; cells may be padded with spaces.

    Parameters
    ----------
    path : str or path-like
        The CSV file.

    Returns
    -------
    PsdTable

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not UTF-8 text, lacks the header, or a row is invalid (see
        :func:`parse_psd_rows`); the message names the file, the line and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PSD table {path} does not exist or is not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a spreadsheet's byte-order mark
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start}); save the PSD table as "
                         "CSV text") from None
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    expected = ",".join(PSD_HEADER)
    if not lines:
        raise ValueError(
            f"{path}: empty; expected the header {expected!r} and one row per size class")
    header_line, header = lines[0]
    names = tuple(cell.strip().lower() for cell in next(csv.reader([header])))
    if names != PSD_HEADER:
        raise ValueError(
            f"{path} line {header_line}: header {header.strip()!r}; expected {expected!r} "
            "(class centre diameter in µm, number fraction of particles)"
        )
    rows = [[cell.strip() for cell in next(csv.reader([line]))] for _, line in lines[1:]]
    try:
        return parse_psd_rows(rows, labels=[f"line {number}" for number, _ in lines[1:]])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def as_psd_table(value: PsdTable | str | os.PathLike[str] | Sequence[Sequence[float]]) -> PsdTable:
    """A PSD table from a :class:`PsdTable`, a CSV path, or inline rows."""
    if isinstance(value, PsdTable):
        return value
    if isinstance(value, (str, os.PathLike)):
        return read_psd_table(value)
    return parse_psd_rows(value)


def class_edges_um(table: PsdTable) -> np.ndarray:
    """Edges of the size classes, µm: midpoints between neighbouring centres.

    The first and last classes extend outward by half the gap to their neighbour (never below
    half the first diameter, so every edge stays positive). A one-class table is a single size.

    Returns
    -------
    numpy.ndarray, shape (n + 1,)
        Increasing edges; for one class both edges equal its diameter.
    """
    d = np.asarray(table.diameter_um, dtype=float)
    if d.size == 1:
        return np.array([d[0], d[0]])
    middle = 0.5 * (d[1:] + d[:-1])
    low = max(d[0] - (middle[0] - d[0]), 0.5 * d[0])
    high = d[-1] + (d[-1] - middle[-1])
    return np.concatenate([[low], middle, [high]])


def target_sample(table: PsdTable, size: int = SAMPLE_SIZE) -> np.ndarray:
    """A deterministic sample of the table's number-weighted PSD, µm.

    Diameters are spread uniformly inside each class (a histogram, not a comb), and taken at
    the quantiles ``(k + ½)/size`` of that piecewise-uniform distribution, so the same table
    always gives the same sample and the structure's random draws come from its rng alone.

    Parameters
    ----------
    table : PsdTable
        The target PSD.
    size : int
        Sample size.

    Returns
    -------
    numpy.ndarray of float, shape (size,)
        Sorted diameters, µm.
    """
    if size < 1:
        raise ValueError(f"target_sample: size must be >= 1, got {size}")
    edges = class_edges_um(table)
    fractions = np.asarray(table.number_fraction, dtype=float)
    fractions = fractions / fractions.sum()
    cdf = np.concatenate([[0.0], np.cumsum(fractions)])
    cdf[-1] = 1.0  # rounding must not leave the top quantiles outside every class
    quantiles = (np.arange(size) + 0.5) / size
    # class k holds the quantiles in [cdf[k], cdf[k+1]): an empty class (zero width) holds none
    k = np.clip(np.searchsorted(cdf, quantiles, side="right") - 1, 0, len(fractions) - 1)
    within = (quantiles - cdf[k]) / np.where(fractions[k] > 0, fractions[k], 1.0)
    return edges[k] + np.clip(within, 0.0, 1.0) * (edges[k + 1] - edges[k])
