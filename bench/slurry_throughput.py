"""Slurry throughput: ``python -m bench slurry_throughput [--steps N] [--ranks R]``.

Throughput ratio: atom-steps per second of a generated slurry stage driven by our MPI runner
  (``python -m stages.runner``, with its convergence checks) over bare ``lmp`` running the same
  input with the same step count (``bench.stage_throughput``). Goal ≥ 0.95.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.stage_throughput import print_ratio, throughput_ratio
from mesosweep.analysis.separation import extract_particles
from mesosweep.stages import slurry
from mesosweep.stages.contract import StageOutput
from mesosweep.stages.forcefield import load_forcefield, shipped_forcefield
from mesosweep.stages.initial import bead_state
from mesosweep.stages.inputs import Numerics
from mesosweep.stages.lammps_data import BeadState
from mesosweep.stages.structure import build_structure
from mesosweep.stages.synthetic import synthetic_volume


def bench_structure(box_um: tuple[float, float, float], seed: int) -> BeadState:
    """A 96:4 slurry structure from a synthetic particle database."""
    rng = np.random.default_rng(seed)
    db = extract_particles(synthetic_volume(60, (2.0, 7.0), 0.642, rng), 0.642)
    s = build_structure(db, box_um=box_um, am_volume_fraction=0.03, am_mass_percent=96.0,
                        cbd_mass_percent=4.0, am_density_g_cm3=4.68, cbd_density_g_cm3=0.95,
                        cbd_diameter_um=6.2, cbd_check_diameter_um=1.3, rng=rng)
    return bead_state(s)


def slurry_throughput(steps: int, ranks: int, box_um: tuple[float, float, float],
                      repeats: int) -> dict[str, float]:
    """Our runner vs bare lmp on the same slurry input and step count (best of ``repeats``)."""
    state = bench_structure(box_um, seed=7)
    numerics = Numerics(0.1, check_steps=steps, max_steps=steps, relax_max_steps=steps,
                        tolerance=0.0)
    with tempfile.TemporaryDirectory(prefix="mesosweep-bench-") as tmp:
        params = slurry.SlurryParams(
            forcefield=load_forcefield(shipped_forcefield("slurry")), temperature_K=300.0,
            pressure_Pa=1e5, solid_content_percent=69.0, cbd_dried_diameter_um=1.3,
            cbd_density_g_cm3=0.95, numerics=numerics, seed=11)
        slurry.build_inputs(params, StageOutput("structure", Path(tmp), state, {}), Path(tmp))
        return throughput_ratio(Path(tmp), steps, ranks, repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench slurry_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20000, help="slurry steps per run")
    parser.add_argument("--ranks", type=int, default=1, help="MPI ranks")
    parser.add_argument("--box-um", type=float, nargs=3, default=(30.0, 30.0, 45.0),
                        help="initial slurry box (µm)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side; best counts")
    args = parser.parse_args(argv)
    print_ratio(slurry_throughput(args.steps, args.ranks, tuple(args.box_um), args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
