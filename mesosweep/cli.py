"""The ``mesosweep`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mesosweep import __version__

EPILOG = """\
examples:
  mesosweep run sweeps/quick.toml          run the embedded default sweep (minutes, 2 cores)
  mesosweep run sweeps/quick.toml --check  validate the spec only; nothing runs or is written
  mesosweep particles build vol.tif --voxel-size-um 0.398 --am-label 1 -o particles.npz

The sweep spec's schema is documented in docs/spec.md. Results land in one zarr store that
xarray.open_zarr reads without mesosweep installed.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mesosweep",
        description="Ensembles of electrode-manufacturing simulations (slurry, drying, "
                    "calendering in LAMMPS under MPI, spread over Dask workers), compared with XCT.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mesosweep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run (or resume) a sweep described by a TOML spec",
                         description="Validate the spec in full, then run every realisation not "
                                     "yet done and write the results into the spec's store.")
    run.add_argument("spec", type=Path, help="sweep spec (TOML), e.g. sweeps/quick.toml")
    run.add_argument("--check", action="store_true",
                     help="validate the spec and print its plan; run nothing, write nothing")

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
    return parser


def _run(args: argparse.Namespace) -> int:
    from ensemble.plan import plan  # noqa: PLC0415 - keep --help fast
    from ensemble.spec import SpecError, load_spec  # noqa: PLC0415

    try:
        spec = load_spec(args.spec)
    except SpecError as exc:
        print(f"mesosweep: invalid sweep spec\n{exc}", file=sys.stderr)
        return 2
    if args.check:
        realisations = plan(spec)
        print(f"{args.spec}: valid; {len(realisations)} realisation(s) x "
              f"{len(spec.process.compression_degrees)} compression degree(s) -> "
              f"{spec.sweep.output}")
        return 0
    from ensemble.runner import run_sweep  # noqa: PLC0415

    try:
        return run_sweep(spec)
    except SpecError as exc:
        print(f"mesosweep: {exc}", file=sys.stderr)
        return 2


def _particles_build(args: argparse.Namespace) -> int:
    from stages.particles import extract_particles, save_database  # noqa: PLC0415
    from stages.xct_io import read_volume  # noqa: PLC0415

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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mesosweep`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "particles":
        return _particles_build(args)
    return 2  # unreachable: argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
