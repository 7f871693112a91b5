"""``mesosweep export STORE --case C --realisation R --degree D -o DIR``: one realisation's
electrode at one state, for other tools (:mod:`mesosweep.export`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mesosweep.commands._store import TARGET_HELP, sweep_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="a realisation's microstructure at one state: voxel image, pore "
                       "network, LAMMPS dumps",
        description="Write one realisation's electrode at a compression degree (0: the dried "
                    "film) as a labelled voxel image (TIFF stack and .npy: 0 pore, 1 AM, "
                    "2 CBD, and the particle ids), its pore network in OpenPNM's form (CSV "
                    "and .npz, SI units) and the final beads of each stage that led to it as "
                    "LAMMPS dumps for OVITO. Reads the store and the sweep's work folder; "
                    "runs no LAMMPS.",
        epilog="example: mesosweep export quick.zarr --case 96-4 --realisation 0 --degree "
               "0.15 -o r0-15  (then open r0-15/phase.tif in Fiji, r0-15/dump/*.dump in "
               "OVITO; export.json says what is where). Exit status 0, or 2 for a request "
               "the store cannot answer.")
    p.add_argument("store", type=Path, metavar="STORE|SPEC", help=TARGET_HELP)
    p.add_argument("--case", required=True, help="the formulation (a case of the store)")
    p.add_argument("--realisation", type=int, required=True, metavar="R",
                   help="index of the realisation (0, 1 …)")
    p.add_argument("--degree", type=float, required=True, metavar="D",
                   help="compression degree of the state: 0 for the dried film, else one of "
                        "the sweep's process.compression_degrees")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                   help="folder to write into (created)")
    p.add_argument("--voxel-size-um", type=float, default=None, metavar="S",
                   help="voxel edge of the image, um (default: the sweep's "
                        "analysis.voxel_size_um, the image its metrics were measured on)")
    p.add_argument("--force", action="store_true",
                   help="write over an export already in DIR (its files are replaced)")


def _problem(args: argparse.Namespace, ds) -> str | None:
    """Why the store cannot answer the request (None: it can), naming what it holds."""
    import numpy as np  # noqa: PLC0415

    cases = [str(c) for c in ds["case"].values]
    if args.case not in cases:
        return f"--case {args.case!r} is not a case of the store; its cases: {', '.join(cases)}"
    if not 0 <= args.realisation < ds.sizes["realisation"]:
        return (f"--realisation {args.realisation} is not in the store: it holds 0 … "
                f"{ds.sizes['realisation'] - 1}")
    degrees = [float(d) for d in ds["degree"].values]
    if not np.isfinite(args.degree) or not any(d == args.degree for d in degrees):
        return (f"--degree {args.degree:g} is not a state of the store; its degrees: "
                f"{', '.join(f'{d:g}' for d in degrees)}")
    if args.voxel_size_um is not None and not 0.01 <= args.voxel_size_um <= 100:
        return f"--voxel-size-um {args.voxel_size_um:g} must lie in [0.01, 100] um"
    out: Path = args.output
    if (out.exists() or out.is_symlink()) and not out.is_dir():
        return f"--output {out} exists and is not a folder"
    if (out / "export.json").exists() and not args.force:
        return f"--output {out} already holds an export; choose another folder or --force"
    return None


def run(args: argparse.Namespace) -> int:
    store = sweep_store(args.store, "export")
    if store is None:
        return 2
    # Commands import what they run only when run: `mesosweep --help` stays fast.
    import xarray as xr  # noqa: PLC0415

    from mesosweep.ensemble.layout import SweepLayout  # noqa: PLC0415
    from mesosweep.ensemble.status import STATES  # noqa: PLC0415
    from mesosweep.export import export_state  # noqa: PLC0415

    ds = xr.open_zarr(store)
    problem = _problem(args, ds)
    if problem is not None:
        print(f"mesosweep export: {problem}", file=sys.stderr)
        return 2
    spec = json.loads(ds.attrs["spec"])
    voxel = args.voxel_size_um or float(spec["analysis"]["voxel_size_um"])
    real = SweepLayout(store).realisation(args.case, args.realisation)
    source = {"store": str(store), "case": args.case, "realisation": args.realisation,
              "spec_hash": str(ds.attrs.get("spec_hash", "")),
              "status": STATES[int(ds["status"].sel(case=args.case,
                                                    realisation=args.realisation))]}
    try:
        files = export_state(real, args.degree, args.output, voxel,
                             str(spec["analysis"].get("cbd_as", "pore")), source)
    except FileNotFoundError as exc:
        print(f"mesosweep export: {exc}", file=sys.stderr)
        return 2
    print(f"export: {real.label} at degree {args.degree:g} -> {args.output} "
          f"({len(files)} files; export.json lists them)")
    return 0
