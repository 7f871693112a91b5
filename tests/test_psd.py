"""Target PSD tables: parsing, validation messages, the deterministic target sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mesosweep.stages.psd import (
    PsdTable,
    as_psd_table,
    class_edges_um,
    parse_psd_rows,
    read_psd_table,
    target_sample,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_is_read_and_renormalised(tmp_path: Path) -> None:
    path = write(tmp_path / "psd.csv", "# NMC powder, number PSD\nDiameter_um, number_fraction\n"
                                       "2.0, 0.25\n\n4.0,0.5\n6.0 , 0.2505\n")
    table = read_psd_table(path)
    assert table.diameter_um == (2.0, 4.0, 6.0)
    assert sum(table.number_fraction) == pytest.approx(1.0, abs=1e-12)  # 1.0005 within tolerance
    assert as_psd_table(path) == table and as_psd_table(str(path)) == table
    assert as_psd_table([[2.0, 0.25], [4.0, 0.5], [6.0, 0.2505]]) == table


@pytest.mark.parametrize("text, words", [
    ("d,f\n2,1\n", ["line 1", "header", "diameter_um,number_fraction"]),
    ("diameter_um,number_fraction\n2,0.5\n1,0.5\n", ["line 3", "strictly increasing"]),
    ("diameter_um,number_fraction\n0,1\n", ["line 2", "diameter_um got 0.0", "> 0"]),
    ("diameter_um,number_fraction\n2,-0.1\n3,1.1\n", ["line 2", "number_fraction", ">= 0"]),
    ("diameter_um,number_fraction\n2,abc\n", ["line 2", "'abc'", "a number"]),
    ("diameter_um,number_fraction\n2,nan\n", ["line 2", "finite"]),
    ("diameter_um,number_fraction\n2,0.5,7\n", ["line 2", "two values"]),
    ("diameter_um,number_fraction\n2,40\n4,60\n", ["sum to 100", "per cent"]),
    ("diameter_um,number_fraction\n2,0.5\n4,0.3\n", ["sum to 0.8", "must sum to 1"]),
    ("diameter_um,number_fraction\n2,0\n", ["every number_fraction is 0"]),
    ("diameter_um,number_fraction\n", ["no rows"]),
    ("", ["empty"]),
])
def test_bad_tables_are_refused_in_one_line(tmp_path: Path, text: str, words: list[str]) -> None:
    path = write(tmp_path / "psd.csv", text)
    with pytest.raises(ValueError) as info:
        read_psd_table(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    for word in words:
        assert word in message, (word, message)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_psd_table(tmp_path / "none.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_psd_table(tmp_path / "bin.csv")


def test_class_edges_are_midpoints_and_stay_positive() -> None:
    table = parse_psd_rows([[2.0, 0.5], [4.0, 0.3], [8.0, 0.2]])
    assert class_edges_um(table).tolist() == [1.0, 3.0, 6.0, 10.0]
    wide = parse_psd_rows([[1.0, 0.5], [9.0, 0.5]])
    assert class_edges_um(wide)[0] == 0.5  # half a gap below 1 µm would be negative
    assert class_edges_um(parse_psd_rows([[5.0, 1.0]])).tolist() == [5.0, 5.0]


def test_target_sample_follows_the_table() -> None:
    table = PsdTable((2.0, 4.0, 8.0), (0.5, 0.0, 0.5))
    sample = target_sample(table, 1000)
    assert np.all(np.diff(sample) >= 0) and np.array_equal(sample, target_sample(table, 1000))
    edges = class_edges_um(table)
    # half in the first class, none in the empty one, half in the last, spread evenly in each
    assert np.mean((sample >= edges[0]) & (sample < edges[1])) == pytest.approx(0.5)
    assert not np.any((sample >= edges[1]) & (sample < edges[2]))
    assert np.mean(sample[:500]) == pytest.approx(0.5 * (edges[0] + edges[1]), rel=1e-3)
    assert target_sample(parse_psd_rows([[5.0, 1.0]]), 3).tolist() == [5.0, 5.0, 5.0]
    with pytest.raises(ValueError, match="size"):
        target_sample(table, 0)
