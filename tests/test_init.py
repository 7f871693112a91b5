"""``mesosweep init NAME DIR``: the shipped specs, written where the user wants them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesosweep import sweeps
from mesosweep.cli import main
from tests.conftest import REPO


def test_the_shipped_specs_are_the_sweeps_folder() -> None:
    assert sweeps.names() == ["quick", "paper-94-6", "paper-96-4"]
    for name in sweeps.names():
        assert sweeps.text(name) == (REPO / "sweeps" / f"{name}.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["quick", "paper-96-4", "paper-94-6"])
def test_init_writes_a_spec_that_checks(name: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", name, "specs/new"]) == 0
    written = tmp_path / "specs" / "new" / f"{name}.toml"
    assert written.read_text(encoding="utf-8") == sweeps.text(name)
    assert f"mesosweep run {Path('specs/new') / f'{name}.toml'} --check" in capsys.readouterr().out
    assert main(["run", str(written), "--check"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["specs"]  # the check wrote nothing


def test_init_never_overwrites(tmp_path: Path, capsys) -> None:
    mine = tmp_path / "quick.toml"
    mine.write_text("# my edits\n")
    assert main(["init", "quick", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and str(mine) in err[0]
    assert mine.read_text() == "# my edits\n"


def test_init_into_a_file_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "f").write_text("x")
    assert main(["init", "quick", str(tmp_path / "f")]) == 2
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("name, hint", [("qiuck", "quick"), ("paper-96", "paper-96-4"),
                                        ("zzz", None)])
def test_bad_name_lists_the_choices(name: str, hint: str | None, tmp_path: Path, capsys) -> None:
    assert main(["init", name, str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert name in line and "quick, paper-94-6, paper-96-4" in line
    assert (f"did you mean {hint!r}" in line) if hint else "did you mean" not in line
    assert list(tmp_path.iterdir()) == []
