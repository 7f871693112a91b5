"""``mesosweep particles build``: separate the secondary particles of an XCT volume.

The user describes the volume (format, raw shape and dtype, which labels are which phase or a
grey threshold, which axis is through-plane) and the watershed; every mistake in that
description ends in one line on stderr and exit status 2, before anything is written.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

# The bounds of a voxel size are the spec's (pure Python, no numpy).
from mesosweep.ensemble.schema import VOXEL_SIZE_UM

FORMATS = ("tiff", "tiff-folder", "npy", "raw", "zarr")  # mirrors stages.xct_io.FORMATS

EXAMPLES = """\
examples:
  mesosweep particles build vol.tif --voxel-size-um 0.398 --am-label 1 -o particles.npz
  mesosweep particles build slices/ --voxel-size-um 0.642 --am-label 2 --cbd-label 3 -o db.npz
  mesosweep particles build scan.raw --shape 251 301 301 --dtype uint16 --threshold 21000 \\
      --through-plane-axis 0 --voxel-size-um 0.642 -o db.npz
"""


def _labels(text: str) -> tuple[int, ...]:
    """One label or a comma-separated list of labels, e.g. ``1`` or ``1,3``."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an integer label or a comma-separated list of them (e.g. 1 or 1,3)"
        ) from None
    return values


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _bounded_float(low: float, high: float, why: str):
    """A number in [low, high]; ``why`` says what the bounds stand for."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and low <= value <= high):
            within = "" if math.isinf(low) and math.isinf(high) else f" in [{low:g}, {high:g}]"
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number{within} ({why})")
        return value

    return parse


#: A voxel edge in µm, as the spec bounds it.
voxel_size = _bounded_float(*VOXEL_SIZE_UM, "µm: XCT voxels from nano-CT to micro-CT")


def _int_at_least(low: int, high: int | None = None, why: str = ""):
    """An integer >= ``low`` (and <= ``high``; ``why`` says why the bound)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r} must be >= {low}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text!r} must be <= {high} ({why})")
        return value

    return parse


class _OneLineErrors(argparse.ArgumentParser):
    """A parser whose usage errors are one line (argparse would print the whole usage first)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"mesosweep: {self.prog}: {message} (see {self.prog} --help)\n")


def add_volume_arguments(parser: argparse.ArgumentParser) -> None:
    """How an XCT volume is stored and what its values mean (shared with ``xct measure``)."""
    source = parser.add_argument_group("how the volume is stored")
    source.add_argument("--format", choices=FORMATS, default=None,
                        help="file format (default: from the suffix, or a folder's content)")
    source.add_argument("--shape", type=_int_at_least(1), nargs=3, metavar=("N0", "N1", "N2"),
                        help="raw only: the volume's shape in storage order")
    source.add_argument("--dtype", default=None,
                        help="raw only: element type with byte order if needed, e.g. uint8, "
                             "'<u2', float32")
    source.add_argument("--through-plane-axis", type=int, choices=(0, 1, 2), default=2,
                        help="storage axis through the electrode's thickness; it becomes z "
                             "(default 2; permuted cyclically, so particles are not mirrored)")
    phases = parser.add_argument_group(
        "what the values mean (labels, or a threshold for a grey image)")
    phases.add_argument("--am-label", type=_labels, default=None, metavar="L[,L...]",
                        help="label(s) of the active material (default 1 unless --threshold)")
    phases.add_argument("--cbd-label", type=_labels, default=None, metavar="L[,L...]",
                        help="label(s) of the carbon-binder domain")
    phases.add_argument("--pore-label", type=_labels, default=None, metavar="L[,L...]",
                        help="label(s) of the pores; when given, every label must be assigned")
    phases.add_argument("--threshold", type=_bounded_float(-math.inf, math.inf, "a grey value"),
                        default=None,
                        help="greyscale image: values above it are AM, the rest pore")


def add_watershed_arguments(group: argparse._ArgumentGroup) -> None:
    """The particle-separation parameters (shared with ``xct measure``)."""
    group.add_argument("--erosion-vox", type=_int_at_least(0), default=1,
                       help="voxels eroded before the watershed and dilated back after (paper: 1)")
    group.add_argument("--min-distance-vox", type=_int_at_least(1), default=5,
                       help="minimum distance between watershed markers, voxels (lower it for "
                            "particles only a few voxels across)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    particles = sub.add_parser("particles", help="particle databases from XCT volumes")
    psub = particles.add_subparsers(dest="particles_command", required=True, metavar="ACTION",
                                    parser_class=_OneLineErrors)
    build = psub.add_parser(
        "build",
        help="separate secondary particles of an XCT volume into a particle database (.npz, no "
             "pickle)",
        description="Read a segmented (or greyscale) XCT volume, separate its active-material "
                    "particles (erode, distance-transform watershed, dilate back), drop border "
                    "particles and fragments, and save one record per particle. Schema: "
                    "docs/particle-database.md.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("volume", type=Path,
                       help="multi-page TIFF, folder of TIFF slices, .npy, raw binary, or zarr "
                            "array")
    build.add_argument("--voxel-size-um", type=voxel_size, required=True,
                       help="voxel edge length in µm (isotropic)")
    build.add_argument("-o", "--output", type=Path, required=True, help="database file (.npz)")
    build.add_argument("--force", action="store_true",
                       help="replace an existing database file (atomically: the old one stays "
                            "whole until the new one is complete)")
    add_volume_arguments(build)
    ws = build.add_argument_group("particle separation")
    add_watershed_arguments(ws)
    ws.add_argument("--min-voxels", type=_int_at_least(1), default=27,
                    help="drop fragments smaller than this many voxels")


def _check(args: argparse.Namespace) -> str | None:
    """The first problem with the arguments that argparse cannot see, or None."""
    out = args.output
    if out.suffix != ".npz":
        return f"--output {out}: a particle database is an .npz file; name it e.g. particles.npz"
    return output_problem(out, "--output", args.force, "--force") or check_volume_arguments(args)


def output_problem(path: Path, option: str, replace: bool, replace_option: str) -> str | None:
    """Why a new file cannot be written at ``path`` (None: it can), checked before any work:
    its folder must exist and be writable; an existing file is replaced only when ``replace``
    (``replace_option`` names how to ask), and never a folder."""
    if "\x00" in str(path):
        return f"{option}: a path cannot hold a NUL byte"
    if path.is_dir():
        return f"{option} {path} is a folder; give a file name inside it, e.g. {path / 'x.npz'}"
    if (path.exists() or path.is_symlink()) and not replace:
        return (f"{option} {path} already exists; choose a new name, or pass {replace_option} to "
                "replace it")
    folder = path.parent
    if not folder.is_dir():
        return f"{option} {path}: the folder {folder} does not exist; create it first"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{option} {path}: cannot write in {folder} (read-only, or not yours)"
    return None


def check_volume_arguments(args: argparse.Namespace) -> str | None:
    """The first problem with the options of :func:`add_volume_arguments`, or None."""
    if args.threshold is not None and any(
            v is not None for v in (args.am_label, args.cbd_label, args.pore_label)):
        return ("--threshold is for a greyscale image and --am-label/--cbd-label/--pore-label "
                "for a label image; give one or the other")
    fmt = args.format
    if fmt is None and args.volume.suffix.lower() in (".raw", ".bin", ".dat", ".vol"):
        fmt = "raw"
    if fmt == "raw":
        if args.shape is None or args.dtype is None:
            return (f"{args.volume}: a raw volume needs --shape N0 N1 N2 and --dtype (e.g. uint8, "
                    "'<u2')")
    elif args.shape is not None or args.dtype is not None:
        return ("--shape and --dtype describe a raw binary file only; drop them, or pass "
                "--format raw")
    if args.dtype is not None:
        # numpy, for the dtype's meaning: loaded only when a raw volume is described.
        from mesosweep.stages.xct_io import check_volume_dtype  # noqa: PLC0415

        try:
            check_volume_dtype(args.dtype, f"--dtype {args.dtype!r}")
        except ValueError as exc:
            return str(exc)
    return None


def run(args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem is not None:
        print(f"mesosweep: {problem}", file=sys.stderr)
        return 2
    import numpy as np  # noqa: PLC0415 - the command's heavy imports load when it runs

    from mesosweep.stages.particles import (  # noqa: PLC0415
        build_database_from_file,
        save_database,
    )

    started = time.perf_counter()
    open_line = [False]  # a progress line is on the terminal without its newline
    # a terminal gets one line rewritten in place; a log file gets one line per step
    rewrite = sys.stderr.isatty()
    start_of_line = "\r" if rewrite else ""

    def log(line: str) -> None:
        print(f"particles: {line}", file=sys.stderr, flush=True)

    def progress(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        open_line[0] = rewrite and done < total
        print(f"{start_of_line}particles: separating {done}/{total} ({elapsed:.0f} s)",
              end="" if open_line[0] else "\n", file=sys.stderr, flush=True)

    try:
        db = build_database_from_file(
            args.volume, args.voxel_size_um, fmt=args.format, shape=args.shape, dtype=args.dtype,
            am=args.am_label, cbd=args.cbd_label, pore=args.pore_label, threshold=args.threshold,
            through_plane_axis=args.through_plane_axis, erosion_vox=args.erosion_vox,
            min_distance_vox=args.min_distance_vox, min_voxels=args.min_voxels,
            log=log, progress=progress)
    except (ValueError, OSError) as exc:  # a bad volume; an unreadable file
        if open_line[0]:
            print(file=sys.stderr)
        print(f"mesosweep: {exc}", file=sys.stderr)
        return 2
    try:
        # Written beside and renamed: an existing file (--force) is replaced whole or not at all.
        path = save_database(db, args.output)
    except OSError as exc:
        print(f"mesosweep: cannot write {args.output} ({exc.strerror or exc}); nothing was "
              "replaced", file=sys.stderr)
        return 1
    d = db.diameter_um
    print(f"{len(db)} whole particles, volume-equivalent diameters {d.min():.2f}-{d.max():.2f} um "
          f"(median {np.median(d):.2f}), Krumbein sphericity median "
          f"{np.median(db.sphericity):.3f} -> {path} ({time.perf_counter() - started:.1f} s)")
    return 0
