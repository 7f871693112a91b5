"""``mesosweep xct measure``: the experimental side of the comparison.

Cuts random sub-volumes of the simulated electrode's size out of an XCT volume, measures each
with the simulations' own metric function, and stores them (dim ``subvolume``) in the sweep's
store (group ``xct``) or a store of their own. Every mistake in the request (sizes, labels,
counts) ends in one line on stderr and exit status 2, before any sub-volume is measured.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from mesosweep.commands.particles import (
    _bounded_float,
    _int_at_least,
    _OneLineErrors,
    add_volume_arguments,
    add_watershed_arguments,
    check_volume_arguments,
    voxel_size,
)

#: Sub-volumes measured at most: the paper measured 20, and a thousand give confidence
#: intervals of a per cent; each is a watershed and a tortuosity solve.
MAX_SUBVOLUMES = 10_000
#: A sub-volume is at most as large as a simulation box (the spec's structure.box_um bound).
length_um = _bounded_float(0.001, 10_000, "µm, from a voxel to 1 cm")

EXAMPLES = """\
examples:
  mesosweep xct measure vol.tif --voxel-size-um 0.398 --am-label 1 --cbd-label 2 \\
      --like quick.zarr --degree 0.3 -n 20 --seed 1 -o quick.zarr
  mesosweep xct measure vol.tif --voxel-size-um 0.398 --am-label 1 --size-um 40 40 30 \\
      --no-overlap -n 10 -o xct.zarr

With -o naming a sweep store the sub-volumes go into its group 'xct' (read it with
xr.open_zarr(store, group="xct")); any other path becomes a store of its own.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    xct = sub.add_parser("xct", help="measure XCT sub-volumes for the comparison with a sweep")
    xsub = xct.add_subparsers(dest="xct_command", required=True, metavar="ACTION",
                              parser_class=_OneLineErrors)
    m = xsub.add_parser(
        "measure",
        help="cut N random sub-volumes from an XCT volume and measure them like the simulations",
        description="Cut N random sub-volumes (seeded) of the simulated electrode's size, or of "
                    "an explicit size, out of a segmented XCT volume, and compute on each the "
                    "metrics of the simulations (porosity, tortuosity factors, thickness "
                    "profiles, pore network, sphericity of the watershed-separated particles) "
                    "with the same function, names and units. The sub-volume closest to the "
                    "mean porosity and tortuosity is marked. See docs/comparison.md.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("volume", type=Path,
                   help="multi-page TIFF, folder of TIFF slices, .npy, raw binary, or zarr array")
    m.add_argument("--voxel-size-um", type=voxel_size, required=True,
                   help="voxel edge length in µm (isotropic)")
    m.add_argument("-o", "--output", type=Path, required=True,
                   help="a sweep store (written into its group 'xct') or a new zarr store")
    size = m.add_mutually_exclusive_group(required=True)
    size.add_argument("--size-um", type=length_um, nargs="+", metavar="L",
                      help="sub-volume size X Y Z in µm (X Y with --full-thickness)")
    size.add_argument("--like", type=Path, metavar="STORE",
                      help="take the size of the simulated electrode of this sweep store (box "
                           "in-plane, mean thickness at --degree)")
    m.add_argument("--degree", type=float, default=None,
                   help="compression degree the imaged electrode corresponds to (0: "
                        "uncalendered); recorded for the comparison and, with --like, picks the "
                        "simulated thickness (default: unknown; --like then uses 0)")
    m.add_argument("--case", default="", help="formulation (sweep case) of the imaged electrode")
    m.add_argument("-n", "--count", type=_int_at_least(1, MAX_SUBVOLUMES, "each is a "
                                                        "watershed and a tortuosity solve"),
                   default=20,
                   help="number of sub-volumes (default 20, as the paper)")
    m.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of their placement")
    m.add_argument("--no-overlap", action="store_true",
                   help="sub-volumes must not overlap (refused if they cannot all fit)")
    m.add_argument("--full-thickness", action="store_true",
                   help="sub-volumes span the volume's whole through-plane extent (a tomogram "
                        "from current collector to surface)")
    m.add_argument("--cbd-as", choices=("pore", "solid"), default=None,
                   help="CBD in porosity and pore network (default: the sweep's with --like, "
                        "else pore, as a two-phase XCT sees it)")
    m.add_argument("--group", default=None, help="group to write (default 'xct' in a sweep store)")
    m.add_argument("--overwrite", action="store_true", help="replace an existing group or store")
    add_volume_arguments(m)
    ws = m.add_argument_group("particle separation (as for `mesosweep particles build`)")
    add_watershed_arguments(ws)
    ws.add_argument("--margin-um", type=_bounded_float(0, 1000, "µm of context"), default=5.0,
                    help="context around each sub-volume for the watershed, µm")


def _check(args: argparse.Namespace) -> str | None:
    """The first problem argparse cannot see, or None."""
    # Commands import what they run only when run: `mesosweep --help` stays fast.
    from mesosweep.ensemble.spec import describe_non_store, is_mesosweep_store  # noqa: PLC0415

    if args.size_um is not None:
        wanted = 2 if args.full_thickness else 3
        if len(args.size_um) not in (wanted, 3):
            also = " or X Y with --full-thickness" if wanted == 2 else ""
            return f"--size-um takes X Y Z (µm){also}, got {len(args.size_um)} value(s)"
    if args.like is not None and (problem := describe_non_store(args.like)) is not None:
        return f"--like: {problem}; give a sweep store (a zarr store `mesosweep run` wrote)"
    if args.degree is not None and not (math.isfinite(args.degree) and 0 <= args.degree < 1):
        return f"--degree {args.degree}: a compression degree is a fraction in [0, 1)"
    if not args.volume.exists():
        return f"{args.volume}: no such volume"
    out = args.output
    if not out.parent.is_dir():
        return f"--output {out}: the folder {out.parent} does not exist"
    if (out.exists() or out.is_symlink()) and not out.is_dir():
        return (f"--output {out} is a file; a store is a folder: choose a new path (a file is "
                "never replaced by a store)")
    if out.exists() and not is_mesosweep_store(out) and not args.overwrite:
        return (f"--output {out} exists and is not a sweep store; choose a new path or "
                "pass --overwrite")
    if not os.access(out if out.exists() else out.parent, os.W_OK | os.X_OK):
        return f"--output {out}: cannot write there (read-only, or not yours)"
    return check_volume_arguments(args)


def run(args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem is not None:
        print(f"mesosweep: {problem}", file=sys.stderr)
        return 2
    import xarray as xr  # noqa: PLC0415 - loaded when the command runs, not for --help

    from mesosweep.ensemble.xct_store import measure_file, size_like, write_xct  # noqa: PLC0415

    started = time.perf_counter()

    def log(line: str) -> None:
        print(f"xct: {line}", file=sys.stderr, flush=True)

    cbd_as = args.cbd_as
    profile_bins = 20
    try:
        if args.like is not None:
            size = size_like(args.like, args.degree)
            like = xr.open_zarr(args.like)
            if cbd_as is None:
                cbd_as = json.loads(like.attrs["spec"]).get("analysis", {}).get("cbd_as", "pore")
            if "z_norm" in like.dims:
                profile_bins = like.sizes["z_norm"]
            log(f"size of the simulated electrode in {args.like}: "
                + " x ".join(f"{v:.2f}" for v in size) + " um")
        else:
            size = tuple(args.size_um) + ((0.0,) if len(args.size_um) == 2 else ())
        ds = measure_file(
            args.volume, args.voxel_size_um, size_um=size, am=args.am_label,
            cbd=args.cbd_label, pore=args.pore_label, threshold=args.threshold,
            through_plane_axis=args.through_plane_axis, fmt=args.format, shape=args.shape,
            dtype=args.dtype, degree=float("nan") if args.degree is None else args.degree,
            case=args.case, log=log, n=args.count, seed=args.seed,
            overlap=not args.no_overlap, full_thickness=args.full_thickness,
            cbd_as=cbd_as or "pore", profile_bins=profile_bins, margin_um=args.margin_um,
            min_distance_vox=args.min_distance_vox, erosion_vox=args.erosion_vox)
        group = write_xct(ds, args.output, group=args.group, overwrite=args.overwrite)
    except (ValueError, OSError) as exc:  # a bad volume or request; a file that cannot be read
        print(f"mesosweep: {exc}", file=sys.stderr)
        return 2
    por, tau = ds["porosity"].values, ds["tau_z"].values
    best = int(ds.attrs["representative"])
    where = f"{args.output}" + (f" (group {group!r})" if group else "")
    sd = por.std(ddof=1) if por.size > 1 else float("nan")
    print(f"{args.count} sub-volumes of "
          + " x ".join(f"{v:.2f}" for v in json.loads(ds.attrs["size_um"]))
          + f" um: porosity {por.mean():.3f} ± {sd:.3f} (sd), "
          f"tau_z {tau[tau < float('inf')].mean():.2f}; representative sub-volume {best} -> "
          f"{where} ({time.perf_counter() - started:.1f} s)")
    return 0
