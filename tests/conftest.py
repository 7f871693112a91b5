"""Shared fixtures: a tiny sweep spec that runs the whole pipeline in well under a minute."""

from pathlib import Path

import pytest

# lammps_guard fails a test that runs LAMMPS without the `lammps` mark; pytester lets
# tests/test_markers.py check that it does.
pytest_plugins = ("tests.lammps_guard", "pytester")

REPO = Path(__file__).resolve().parents[1]

TINY_SPEC = """
schema_version = 1
[sweep]
name = "tiny"
root_seed = 4242
realisations = 2
output = "{output}"
[cluster]
kind = "local"
workers = 2
ranks_per_realisation = {ranks}
[particles]
source = "synthetic"
voxel_size_um = 0.642
count = 16
diameter_range_um = [2.0, 4.5]
[structure]
box_um = [11.0, 11.0, 36.0]
am_volume_fraction = 0.05
[[formulations]]
name = "96-4"
am_mass_percent = 96.0
cbd_mass_percent = 4.0
solid_content_percent = 69.0
dried_porosity_percent = 50.6
[process]
compression_degrees = [0.15, 0.35]
calendering_speed_um_per_us = 8.0
[numerics]
check_steps = 500
slurry_max_steps = 8000
drying_max_steps = 200000
relax_max_steps = 4000
tolerance = 0.005
[analysis]
voxel_size_um = 0.25
cbd_as = "solid"
"""


def tiny_spec_text(output: str = "tiny.zarr", ranks: int = 1, *, realisations: int = 2,
                   workers: int = 2, slow: bool = False) -> str:
    """TINY_SPEC with these values; ``slow``: a plane 8 times slower (and a drying cap to
    match), so that the drying lasts long enough to act on it while it runs."""
    text = TINY_SPEC.format(output=output, ranks=ranks).replace(
        "realisations = 2", f"realisations = {realisations}").replace(
        "workers = 2", f"workers = {workers}")
    if slow:
        text = text.replace("calendering_speed_um_per_us = 8.0",
                            "calendering_speed_um_per_us = 1.0")
        text = text.replace("drying_max_steps = 200000", "drying_max_steps = 2000000")
    return text


@pytest.fixture
def tiny_spec(tmp_path: Path):
    """Write the tiny spec into tmp_path; returns a function of (output name, ranks)."""

    def make(output: str = "tiny.zarr", ranks: int = 1) -> Path:
        path = tmp_path / "tiny.toml"
        path.write_text(TINY_SPEC.format(output=output, ranks=ranks))
        return path

    return make


def run_tiny_sweep(root: Path) -> int:
    """Run the tiny sweep through the command line in ``root`` (its store: root/tiny.zarr,
    its printed progress: root/run.log); returns the exit status."""
    import contextlib

    from mesosweep.cli import main

    spec = root / "tiny.toml"
    spec.write_text(TINY_SPEC.format(output="tiny.zarr", ranks=1))
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    try:
        with open(root / "run.log", "w") as log, contextlib.redirect_stdout(log):
            return main(["run", str(spec)])
    finally:
        mp.undo()
