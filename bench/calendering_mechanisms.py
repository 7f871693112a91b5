"""Calendering mechanisms side by side: ``python -m bench calendering_mechanisms DRIED_DIR [...]``.

Presses and releases ONE dried film (a finished ``drying`` stage directory, e.g.
``<work>/96-4/r0000/drying`` of ``python -m bench validate_paper --scale 0.5 -o DIR`` or of the
quick sweep) to every compression degree under each candidate mechanism, from the same dried
state, and prints per candidate and degree: porosity (the store's definition: voxelised state,
CBD counted as the spec says), the solid-conservation bound 1 - (1 - phi_dried)/(1 - c),
springback (% of the pressed thickness), the largest intra-particle bond strain under the plane
and after release, how close
primaries of different secondaries came (in primary diameters), the largest binder-bridge
strain, steps and wall time.

A candidate is a parameter file in ``bench/calendering/`` that starts from the dried set
(``base = "dried"``) and sets its ``[calendering]`` table (stages/forcefield.py,
``Calendering``); the stages hold the code paths. Candidates whose pressings are identical
(same pressing parameters and timestep) share one chain of pressings. Finished stage directories
under ``-o`` are reused, so an interrupted comparison resumes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from mesosweep.analysis.porosity import porosity
from mesosweep.ensemble.spec import load_spec, resolve_forcefield
from mesosweep.stages import calendering, drying, pressing
from mesosweep.stages.contract import RunResult, StageOutput, run
from mesosweep.stages.forcefield import ForceField, load_forcefield
from mesosweep.stages.inputs import BRIDGE_BOND, Numerics, timestep_us
from mesosweep.stages.lammps_data import BeadState, read_data
from mesosweep.stages.lammps_env import executable
from mesosweep.stages.measure import closest_foreign_primary, intra_bond_strain, voxel_images
from mesosweep.stages.protocol import STATE_FILE

REPO = Path(__file__).resolve().parents[1]
CANDIDATES = Path(__file__).with_name("calendering")
DEFAULT_CANDIDATES = ("elastic", "dwell", "cbd-compaction", "bridges", "adhesion")
# Targets of the calendering issue at the deepest degree: porosity within 2 points of the
# conservation bound, springback at most 5 % of the pressed thickness.
BOUND_POINTS, SPRINGBACK_MAX = 0.02, 0.05


def candidate_forcefield(name: str, dried_set: Path, into: Path) -> ForceField:
    """The candidate ``name`` laid over ``dried_set`` (copied beside it as ``dried.toml``)."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(dried_set, into / "dried.toml")
    shutil.copyfile(CANDIDATES / f"{name}.toml", into / f"{name}.toml")
    return load_forcefield(into / f"{name}.toml")


def state_porosity(state: BeadState, voxel_um: float, cbd_as: str) -> float:
    """Porosity as the store measures it: the voxelised state over its mean thickness."""
    phase, _ = voxel_images(state, voxel_um)
    return porosity(phase, cbd_as=cbd_as)


def bridge_strain(release_dir: Path) -> float:
    """Largest |strain| of the binder bridges of a release against their length when they
    formed (``calendering.BRIDGED_FILE``); 0 without bridges."""
    if not (release_dir / calendering.BRIDGED_FILE).exists():
        return 0.0
    released = read_data(release_dir / STATE_FILE)
    formed = read_data(release_dir / calendering.BRIDGED_FILE)
    bridges = released.bonds[released.bonds[:, 0] == BRIDGE_BOND]

    def length(state: BeadState) -> np.ndarray:
        d = state.position_um[bridges[:, 1]] - state.position_um[bridges[:, 2]]
        d[:, :2] -= np.round(d[:, :2] / state.box_um[:2]) * state.box_um[:2]
        return np.linalg.norm(d, axis=1)

    return float(np.abs(length(released) / length(formed) - 1.0).max())


def _finished(stage_module, directory: Path) -> StageOutput | None:
    if RunResult.read(directory) is None:
        return None
    return stage_module.read_output(directory)


def _run(stage_module, build, directory: Path, launcher: list[str]) -> StageOutput:
    """The stage in ``directory``: reused when it finished before, else built and run."""
    done = _finished(stage_module, directory)
    if done is not None:
        return done
    if directory.exists():
        shutil.rmtree(directory)
    build(directory)
    run(directory, launcher)
    return stage_module.read_output(directory)


def compare(dried_dir: Path, spec_path: Path, names: list[str], degrees: list[float],
            out: Path, ranks: int) -> list[dict]:
    """Run every candidate on the dried film in ``dried_dir``; one row per candidate and degree."""
    spec = load_spec(spec_path)
    proc, num, ana = spec.process, spec.numerics, spec.analysis
    numerics = Numerics(num.timestep_fraction, num.check_steps, 0, num.relax_max_steps,
                        num.tolerance, relax_check_steps=num.relax_check_steps)
    dried = drying.read_output(dried_dir)
    phi_dried = state_porosity(dried.state, ana.voxel_size_um, ana.cbd_as)
    launcher = [executable("mpiexec"), "-n", str(ranks)]
    dried_set = resolve_forcefield(num.forcefield_dried)
    rows: list[dict] = []
    chains: dict[tuple, Path] = {}
    for name in names:
        ff = candidate_forcefield(name, dried_set, out / "params")
        cal = ff.calendering
        dt = timestep_us(ff, dried.state, numerics.timestep_fraction)
        key = (cal.cbd_compaction, cal.cbd_nanoporosity, cal.bridges, dt)
        chain = chains.setdefault(key, out / f"pressings-{name}")
        upstream: StageOutput = dried
        for degree in degrees:
            press_params = pressing.PressingParams(
                forcefield=ff, temperature_K=proc.calendering_temperature_K,
                compression_degree=degree, speed_um_per_us=proc.calendering_speed_um_per_us,
                numerics=numerics, seed=17)
            previous = upstream
            pressed = _run(pressing, lambda d, p=press_params, u=previous:
                           pressing.build_inputs(p, u, d),
                           chain / f"pressing-{degree:.4f}", launcher)
            upstream = pressed
            release_params = calendering.ReleaseParams(
                forcefield=ff, temperature_K=proc.calendering_temperature_K,
                speed_um_per_us=proc.calendering_speed_um_per_us, numerics=numerics, seed=19)
            started = time.perf_counter()
            released = _run(calendering, lambda d, p=release_params, u=pressed:
                            calendering.build_inputs(p, u, d),
                            out / name / f"calendering-{degree:.4f}", launcher)
            phi = state_porosity(released.state, ana.voxel_size_um, ana.cbd_as)
            row = {
                "candidate": name, "degree": degree, "porosity": phi,
                "bound": 1.0 - (1.0 - phi_dried) / (1.0 - degree),
                "dried_porosity": phi_dried,
                "springback": released.figures["springback"],
                "pressed_thickness_um": released.figures["pressed_thickness_um"],
                "calendered_thickness_um": released.figures["calendered_thickness_um"],
                "bond_strain_pressed": float(np.abs(intra_bond_strain(pressed.state)).max()),
                "bond_strain_released": float(np.abs(intra_bond_strain(released.state)).max()),
                "closest_foreign_primary": closest_foreign_primary(released.state),
                "bridge_strain_max": bridge_strain(released.directory),
                "pressing_steps": pressed.run.steps, "release_steps": released.run.steps,
                "pressing_wall_s": pressed.run.wall_s, "release_wall_s": released.run.wall_s,
                "converged": bool(released.figures["calendering_converged"]),
                "measured_s": time.perf_counter() - started,
            }
            rows.append(row)
            print_row(row, flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    return rows


HEADER = (f"{'candidate':<16}{'degree':>7}{'porosity':>9}{'bound':>7}{'above':>7}"
          f"{'springb.':>9}{'bond p/r':>13}{'foreign':>8}{'bridge':>7}{'steps':>9}{'wall s':>8}")


def print_row(row: dict, flush: bool = False) -> None:
    """One line of the comparison table (percentages for springback and strains)."""
    print(f"{row['candidate']:<16}{row['degree']:>7.3f}{row['porosity']:>9.3f}{row['bound']:>7.3f}"
          f"{(row['porosity'] - row['bound']) * 100:>6.1f}p{row['springback'] * 100:>8.1f}%"
          f"{row['bond_strain_pressed'] * 100:>6.1f}/{row['bond_strain_released'] * 100:>4.1f}%"
          f"{row['closest_foreign_primary']:>8.2f}"
          f"{row['bridge_strain_max'] * 100:>6.1f}%"
          f"{row['pressing_steps'] + row['release_steps']:>9d}"
          f"{row['pressing_wall_s'] + row['release_wall_s']:>8.0f}", flush=flush)


def verdict(rows: list[dict]) -> None:
    """Per candidate: does it land the targets at the deepest degree, and fall monotonically?"""
    print("\ntargets (deepest degree): porosity within 2 points of the bound, springback <= 5 %,"
          " porosity strictly falling with degree")
    for name in dict.fromkeys(r["candidate"] for r in rows):
        mine = sorted((r for r in rows if r["candidate"] == name), key=lambda r: r["degree"])
        last = mine[-1]
        near = abs(last["porosity"] - last["bound"]) <= BOUND_POINTS
        holds = last["springback"] <= SPRINGBACK_MAX
        falls = bool(np.all(np.diff([last["dried_porosity"]] + [r["porosity"] for r in mine]) < 0))
        print(f"  {name:<16} bound {'yes' if near else 'no ':<4} springback "
              f"{'yes' if holds else 'no ':<4} monotone {'yes' if falls else 'no'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench calendering_mechanisms",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dried", type=Path, help="a finished drying stage directory")
    parser.add_argument("--spec", type=Path, default=REPO / "sweeps" / "paper-96-4.toml",
                        help="sweep spec giving the process, numerics and analysis "
                             "(default: the paper-96-4 preset)")
    parser.add_argument("--candidates", default=",".join(DEFAULT_CANDIDATES),
                        help="comma-separated names of bench/calendering/*.toml "
                             f"(default: {','.join(DEFAULT_CANDIDATES)})")
    parser.add_argument("--degrees", default="0.1,0.2,0.3,0.327",
                        help="compression degrees, increasing (default: the paper's)")
    parser.add_argument("--ranks", type=int, default=1, help="MPI ranks per LAMMPS run")
    parser.add_argument("-o", "--output-dir", type=Path, required=True,
                        help="stage directories and results.json go here (reused on rerun)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.candidates.split(",") if n.strip()]
    missing = [n for n in names if not (CANDIDATES / f"{n}.toml").exists()]
    if missing:
        known = sorted(p.stem for p in CANDIDATES.glob("*.toml"))
        print(f"unknown candidate(s) {', '.join(missing)}; known: {', '.join(known)}",
              file=sys.stderr)
        return 2
    degrees = sorted(float(d) for d in args.degrees.split(","))
    out = args.output_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"dried film {args.dried}; spec {args.spec.name}; {args.ranks} rank(s)\n{HEADER}",
          flush=True)
    rows = compare(args.dried.resolve(), args.spec, names, degrees, out, args.ranks)
    verdict(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
