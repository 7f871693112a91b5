"""Tests for analysis.distributions: fixed bins, under/overflow, density and quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from mesosweep.analysis.distributions import QUANTILES, histogram, quantiles


def test_counts_with_under_and_overflow_never_dropped():
    values = [-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 3.5, np.inf, -np.inf]
    h = histogram(values, [0.0, 1.0, 2.0])
    # [0, 1) holds 0 and 0.5; the last bin [1, 2] also holds its upper edge.
    assert h.counts.tolist() == [2, 4]
    assert (h.underflow, h.overflow) == (2, 2)
    assert h.total == len(values)
    assert h.centres.tolist() == [0.5, 1.5]


def test_density_is_normalised_by_all_values():
    h = histogram([0.1, 0.2, 0.3, 5.0], [0.0, 0.5, 1.0])
    assert h.density.tolist() == pytest.approx([3 / (4 * 0.5), 0.0])
    assert np.sum(h.density * np.diff(h.edges)) == pytest.approx(0.75)  # 1 of 4 overflowed
    inside = histogram([0.1, 0.7], [0.0, 0.5, 2.0])
    assert np.sum(inside.density * np.diff(inside.edges)) == pytest.approx(1.0)


def test_empty_values_and_bad_input():
    h = histogram([], [0.0, 1.0])
    assert h.counts.tolist() == [0] and h.density.tolist() == [0.0] and h.total == 0
    assert np.all(np.isnan(quantiles([])))
    with pytest.raises(ValueError, match="NaN"):
        histogram([np.nan], [0.0, 1.0])
    with pytest.raises(ValueError, match="increasing"):
        histogram([1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="increasing"):
        histogram([1.0], [0.0])


def test_quantiles_of_a_known_sample():
    values = np.arange(101.0)  # 0 .. 100: the p-quantile is 100 p
    assert quantiles(values).tolist() == pytest.approx([100 * p for p in QUANTILES])
    assert QUANTILES == (0.05, 0.25, 0.5, 0.75, 0.95)
    with pytest.raises(ValueError, match="probabilities"):
        quantiles(values, [1.5])
