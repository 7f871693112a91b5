"""Slurry throughput: ``python -m bench slurry_throughput [--steps N] [--ranks R]``.

``slurry_throughput_ratio``: atom-steps per second of the slurry stage driven by our MPI runner
  (``python -m stages.runner``, convergence checks every ``check_steps``) over bare ``lmp`` running
  the same generated input with the same step count. Goal ≥ 0.95.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stages import slurry
from stages.forcefield import load_forcefield, shipped_forcefield
from stages.inputs import Numerics
from ensemble.realisation import bead_state
from stages.lammps_data import BeadState
from stages.lammps_env import child_environment, executable
from stages.particles import extract_particles
from stages.protocol import Protocol
from stages.structure import build_structure
from stages.synthetic import synthetic_volume


def bench_structure(box_um: tuple[float, float, float], seed: int) -> BeadState:
    """A 96:4 slurry structure from a synthetic particle database."""
    rng = np.random.default_rng(seed)
    db = extract_particles(synthetic_volume(60, (2.0, 7.0), 0.642, rng), 0.642)
    s = build_structure(db, box_um=box_um, am_volume_fraction=0.03, am_mass_percent=96.0,
                        cbd_mass_percent=4.0, am_density_g_cm3=4.68, cbd_density_g_cm3=0.95,
                        cbd_diameter_um=6.2, cbd_check_diameter_um=1.3, rng=rng)
    return bead_state(s)


def _timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=child_environment(), check=True, capture_output=True)
    return time.perf_counter() - started


def slurry_throughput(steps: int, ranks: int, box_um: tuple[float, float, float],
                      repeats: int) -> dict[str, float]:
    """Our runner vs bare lmp on the same slurry input and step count (best of ``repeats``)."""
    state = bench_structure(box_um, seed=7)
    # Tolerance 0 never converges: both sides run exactly ``steps`` steps.
    numerics = Numerics(0.1, check_steps=max(steps // 20, 1), max_steps=steps,
                        relax_max_steps=steps, tolerance=0.0)
    with tempfile.TemporaryDirectory(prefix="mesosweep-bench-") as tmp:
        ours = Path(tmp) / "ours"
        bare = Path(tmp) / "bare"
        for d in (ours, bare):
            slurry.build_inputs(state, d, ff=load_forcefield(shipped_forcefield("slurry")),
                                temperature_K=300.0, pressure_Pa=1e5, solid_content_percent=69.0,
                                cbd_dried_diameter_um=1.3, cbd_density_g_cm3=0.95,
                                numerics=numerics, seed=11)
        (bare / "in.slurry").write_text(Protocol.read(bare).render())
        mpiexec = [executable("mpiexec"), "-n", str(ranks)]
        t_ours, t_bare = [], []
        for _ in range(repeats):  # interleaved, so drifts in machine load hit both alike
            t_ours.append(_timed([*mpiexec, sys.executable, "-m", "stages.runner", str(ours)], ours))
            t_bare.append(_timed([*mpiexec, executable("lmp"), "-in", "in.slurry", "-log",
                                  "log.lammps", "-screen", "none", "-nocite"], bare))
    atom_steps = state.n * steps
    return {"atoms": state.n, "steps": steps, "ranks": ranks,
            "ours_atom_steps_per_s": atom_steps / min(t_ours),
            "bare_lmp_atom_steps_per_s": atom_steps / min(t_bare),
            "slurry_throughput_ratio": min(t_bare) / min(t_ours)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench slurry_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20000, help="slurry steps per run")
    parser.add_argument("--ranks", type=int, default=1, help="MPI ranks")
    parser.add_argument("--box-um", type=float, nargs=3, default=(30.0, 30.0, 45.0),
                        help="initial slurry box (µm)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side; best counts")
    args = parser.parse_args(argv)
    fig = slurry_throughput(args.steps, args.ranks, tuple(args.box_um), args.repeats)
    print(f"slurry stage, {fig['atoms']} atoms x {fig['steps']} steps on {fig['ranks']} rank(s):")
    print(f"  ours (stages.runner)   {fig['ours_atom_steps_per_s']:>12.4g} atom-steps/s")
    print(f"  bare lmp, same input   {fig['bare_lmp_atom_steps_per_s']:>12.4g} atom-steps/s")
    print(f"slurry_throughput_ratio  {fig['slurry_throughput_ratio']:.3f}   (goal >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
