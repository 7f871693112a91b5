"""Validation against the paper: ``python -m bench validate_paper [PRESET] [--scale S] [-o DIR]``.

Runs a paper preset (default ``sweeps/paper-96-4.toml``) through the real runner and prints each
figure of ``targets.md`` beside the paper's, then the cost per stage (steps, atom-steps per
second, wall time) and per realisation in core-hours against the paper's 1 200–2 000.

``--scale S`` shrinks the box's x and y by S (same AM fraction and formulation, S² fewer beads)
for a first look in minutes; the paper's scale is S = 1 (hours on 2 cores). Then each stage's
throughput against bare ``lmp`` on that stage's own input (``bench.stage_throughput``). Not a
test: its figures are reported in the issue notes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from bench.stage_throughput import print_ratio, throughput_ratio
from mesosweep.ensemble.layout import SweepLayout
from mesosweep.ensemble.runner import run_sweep
from mesosweep.ensemble.spec import load_spec
from mesosweep.stages.lammps_data import read_data
from mesosweep.stages.measure import intra_bond_strain

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT_SLURRY_DENSITY = {"96-4": 2.14, "94-6": 2.03}  # g/cm^3, targets.md
PAPER_DRIED_POROSITY = {"96-4": 0.506}
PAPER_CALENDERED = {"96-4": (0.327, 0.235)}  # degree, porosity
PAPER_CORE_HOURS = (1200.0, 2000.0)


def scaled_spec(preset: Path, scale: float, out_dir: Path, ranks: int | None = None) -> Path:
    text = preset.read_text()
    if ranks is not None:
        text = re.sub(r"ranks_per_realisation = \d+", f"ranks_per_realisation = {ranks}", text)
    box = re.search(r"box_um = \[([^\]]+)\]", text)
    x, y, z = (float(v) for v in box.group(1).split(","))
    text = text.replace(box.group(0), f"box_um = [{x * scale:.4g}, {y * scale:.4g}, {z:.4g}]")
    text = re.sub(r'output = ".*"', f'output = "{out_dir / "validate.zarr"}"', text)
    path = out_dir / "validate.toml"
    path.write_text(text)
    return path


def report(store_path: Path, ranks: int) -> None:
    ds = xr.open_zarr(store_path).load()
    work = store_path.with_name(store_path.stem + ".work")
    for case in ds.case.values:
        c = str(case)
        one = ds.sel(case=case)
        print(f"\ncase {c}: {int((one.status == 2).sum())} realisation(s) done")
        rho = float(one.slurry_density.mean())
        exp = EXPERIMENT_SLURRY_DENSITY.get(c)
        print(f"  slurry density      {rho:8.3f} g/cm3   experiment {exp} "
              f"({(rho / exp - 1) * 100:+.1f} %; goal within 3 %)" if exp else "")
        por = one.porosity.mean("realisation")
        print("  porosity by degree  " + "  ".join(
            f"{float(d):.3f}: {float(p):.3f}"
            for d, p in zip(ds.degree.values, por.values, strict=True)))
        if c in PAPER_DRIED_POROSITY:
            print(f"  dried porosity      {float(por.sel(degree=0.0)):.3f}   paper "
                  f"{PAPER_DRIED_POROSITY[c]:.3f} (imposed through the thickness)")
        if c in PAPER_CALENDERED:
            deg, target = PAPER_CALENDERED[c]
            if deg in ds.degree.values:
                got = float(por.sel(degree=deg))
                print(f"  porosity at {deg:.3f}   {got:.3f}   paper {target:.3f} "
                      f"({(got - target) * 100:+.1f} points; goal within 3)")
        monotone = bool(np.all(np.diff(por.sortby("degree").values) < 0))
        print(f"  porosity falls monotonically with compression: {monotone}")
        print("  springback by degree " + "  ".join(
            f"{float(d):.3f}: {float(s):.3f}" for d, s in
            zip(ds.degree.values, one.springback.mean("realisation").values, strict=True)))
        strains = [np.abs(intra_bond_strain(read_data(p))).max()
                   for p in work.glob(f"{c}/r*/*/state.data")]
        if strains:
            print(f"  secondaries intact: largest bond strain over every state "
                  f"{max(strains) * 100:.1f} %")
        total_s = 0.0
        for stage in ("slurry", "drying", "pressing-*", "calendering-*"):
            results = [json.loads(p.read_text()) for p in work.glob(f"{c}/r*/{stage}/result.json")]
            if not results:
                continue
            steps = sum(r["steps"] for r in results)
            wall = sum(r["wall_s"] for r in results)
            rate = np.mean([r["atom_steps_per_s"] for r in results])
            total_s += wall
            print(f"  {stage:<14} {steps:>10d} steps  {rate:10.3g} atom-steps/s  {wall:8.1f} s")
        n = max(int((one.status == 2).sum()), 1)
        print_cost("LAMMPS stages", total_s / n, ranks)
        # The store's wall time runs from the attempt's start to its last write: structure,
        # every stage, analysis and the runner's own overhead. It is the figure to quote.
        ends = one.wall_time.where(one.status == 2).values
        if np.isfinite(ends).any():
            print_cost("end to end", float(np.nanmean(ends)), ranks)


def print_cost(what: str, wall_s: float, ranks: int) -> None:
    """Wall time and core-hours of one realisation against the paper's 1 200-2 000."""
    core_h = wall_s * ranks / 3600
    print(f"  per realisation, {what}: {wall_s / 3600:.2f} h wall, {core_h:.2f} core-hours "
          f"(paper {PAPER_CORE_HOURS[0]:.0f}-{PAPER_CORE_HOURS[1]:.0f}: "
          f"{PAPER_CORE_HOURS[0] / max(core_h, 1e-9):.0f}x cheaper)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench validate_paper", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", nargs="?", type=Path,
                        default=REPO / "sweeps" / "paper-96-4.toml")
    parser.add_argument("--scale", type=float, default=0.5,
                        help="shrink the box's x and y by this factor (1 = paper scale)")
    parser.add_argument("--ranks", type=int, default=None,
                        help="MPI ranks per realisation (default: the preset's)")
    parser.add_argument("--throughput-steps", type=int, default=2000,
                        help="steps per run of the throughput comparison with bare lmp on each "
                             "stage's input (0: skip it)")
    parser.add_argument("-o", "--output-dir", type=Path, default=None,
                        help="keep the store and work directories here (default: temporary)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mesosweep-validate-") as tmp:
        out = (args.output_dir or Path(tmp)).resolve()
        out.mkdir(parents=True, exist_ok=True)
        spec = load_spec(scaled_spec(args.preset, args.scale, out, args.ranks))
        print(f"validating {args.preset.name} at scale {args.scale} -> {spec.sweep.output}",
              flush=True)
        code = run_sweep(spec)
        ranks = spec.cluster.ranks_per_realisation
        report(spec.sweep.output, ranks)
        if args.throughput_steps > 0:
            work = SweepLayout(spec.sweep.output).workdir
            print("\nthroughput against bare lmp on each stage's own input:")
            for pattern in ("*/r0000/slurry", "*/r0000/drying", "*/r0000/pressing-*",
                            "*/r0000/calendering-*"):
                for stage_dir in sorted(work.glob(pattern))[:1]:
                    print_ratio(throughput_ratio(stage_dir, args.throughput_steps, ranks, 2))
    return code


if __name__ == "__main__":
    sys.exit(main())
