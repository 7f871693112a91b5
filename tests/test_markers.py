"""The `lammps` mark is enforced: tests/lammps_guard.py fails an unmarked test that runs LAMMPS."""

import shutil

import pytest

import tests.lammps_guard as guard

# Stand-ins for LAMMPS launches: a stage run elsewhere leaves its log in its folder; a program
# named lmp started from the test's process.
FAKE_LAUNCH = '''
import subprocess

import pytest

def _launch(folder):
    (folder / "stage").mkdir()
    (folder / "stage" / "log.lammps").write_text("LAMMPS (22 Jul 2025)\\n")

def test_unmarked_quiet(tmp_path):
    (tmp_path / "notes.txt").write_text("no LAMMPS here")

def test_unmarked_launch(tmp_path):
    _launch(tmp_path)

@pytest.mark.lammps
def test_marked_launch(tmp_path):
    _launch(tmp_path)

def test_unmarked_program(tmp_path):
    lmp = tmp_path / "lmp"  # a stand-in that exits at once
    lmp.write_text("#!/bin/sh\\nexit 0\\n")
    lmp.chmod(0o755)
    subprocess.run([str(lmp), "-in", "in.slurry.lammps"], check=True)

@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    _launch(tmp_path_factory.mktemp("shared"))

def test_unmarked_launch_in_a_module_fixture(launched):
    pass
'''


def test_an_unmarked_test_that_runs_lammps_fails(pytester: pytest.Pytester):
    pytester.makepyfile(test_fake=FAKE_LAUNCH)
    result = pytester.runpytest(f"--basetemp={pytester.path / 'inner'}", "-p",
                                "no:cacheprovider", "--strict-markers", "-o",
                                "markers=lammps: runs LAMMPS", plugins=[guard])
    # The fake logs lie under this session's temporary root too, and this test is unmarked.
    shutil.rmtree(pytester.path / "inner", ignore_errors=True)
    result.assert_outcomes(passed=2, failed=3)
    out = result.stdout.str()
    assert "test_unmarked_launch runs LAMMPS but has no `lammps` mark" in out
    assert "test_unmarked_launch_in_a_module_fixture runs LAMMPS" in out
    assert "test_unmarked_program runs LAMMPS but has no `lammps` mark (it started " in out
    assert "test_marked_launch runs LAMMPS" not in out
