"""``mesosweep particles build``: separate the secondary particles of an XCT volume."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    particles = sub.add_parser("particles", help="particle databases from XCT volumes")
    psub = particles.add_subparsers(dest="particles_command", required=True, metavar="ACTION")
    build = psub.add_parser("build", help="separate secondary particles of an XCT volume into "
                                          "a particle database (.npz, no pickle)")
    build.add_argument("volume", type=Path, help="TIFF file, folder of TIFF slices, .npy or zarr")
    build.add_argument("--voxel-size-um", type=float, required=True, help="voxel edge in µm")
    build.add_argument("--am-label", type=int, default=1, help="label of the active material")
    build.add_argument("--min-voxels", type=int, default=27,
                       help="drop fragments smaller than this many voxels")
    build.add_argument("-o", "--output", type=Path, required=True, help="database file (.npz)")


def run(args: argparse.Namespace) -> int:
    from stages.particles import extract_particles, save_database
    from stages.xct_io import read_volume

    if args.output.suffix != ".npz":
        print(f"mesosweep: --output {args.output}: a particle database is an .npz file",
              file=sys.stderr)
        return 2
    try:
        volume = read_volume(args.volume)
    except ValueError as exc:
        print(f"mesosweep: {exc}", file=sys.stderr)
        return 2

    def progress(done: int, total: int) -> None:
        print(f"\rseparating particles: {done}/{total}", end="", file=sys.stderr, flush=True)

    db = extract_particles(volume, args.voxel_size_um, am_label=args.am_label,
                           min_voxels=args.min_voxels, progress=progress)
    print(file=sys.stderr)
    save_database(db, args.output)
    print(f"{len(db)} whole particles, volume-equivalent diameters "
          f"{db.diameter_um.min():.2f}-{db.diameter_um.max():.2f} um -> {args.output}")
    return 0
