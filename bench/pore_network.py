"""Pore network on the NREL volume: ``python -m bench pore_network [--crop N]``.

The volume ``../shared/data/nrel-nmc-1-cal-bridge.tif`` (251 x 301 x 301 voxels, 0.398 µm) with
pore and CBD as the pore space, segmented by ours (``analysis.pore_network.pore_network``:
watershed, pore sizes, positions and throats) and by porespy's ``snow2`` (optional:
``pip install porespy``) with ``boundary_width=0`` so that neither adds boundary pores. Each runs
in a fresh process; both count and size pores from their region images the same way
(equivalent radius ``(3V/4pi)^(1/3)``), over all pores and over pores > 1 µm.

``pore_network_speed_ratio``: snow2's wall time over ours. Goal >= 1.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.subprocess_worker import emit, run_worker

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nrel-nmc-1-cal-bridge.tif"
VOXEL_UM = 0.398


def _radii(regions: np.ndarray) -> np.ndarray:
    """Equivalent radius (µm) of every non-empty region of a label image."""
    volume = np.bincount(regions.reshape(-1))[1:] * VOXEL_UM**3
    volume = volume[volume > 0]
    return np.cbrt(3.0 * volume / (4.0 * np.pi))


def _worker(method: str, crop: int | None) -> dict:
    import tifffile

    if method == "snow2":
        import porespy
    else:
        from mesosweep.analysis.pore_network import pore_network
    image = tifffile.imread(DATA)
    if crop:
        image = image[:crop, :crop, :crop]
    pore = image != 1
    started = time.perf_counter()
    if method == "snow2":
        regions = porespy.networks.snow2(pore.astype(np.int8), voxel_size=VOXEL_UM,
                                         boundary_width=0).regions
        throats = None
    else:
        network = pore_network(pore, VOXEL_UM)
        regions, throats = network.regions, int(network.throat_pores.shape[0])
    seconds = time.perf_counter() - started
    r = _radii(regions)
    big = r[r > 1.0]
    return {"seconds": seconds, "pores": int(r.size), "mean_radius_um": float(r.mean()),
            "pores_above_1um": int(big.size), "mean_radius_above_1um": float(big.mean()),
            "throats": throats,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run(method: str, crop: int | None) -> dict:
    return run_worker("bench.pore_network", ["--worker", method, *(["--crop", str(crop)] if crop
                                                                   else [])], method)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pore_network", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crop", type=int, default=None, help="use the first N^3 voxels only")
    parser.add_argument("--worker", choices=("ours", "snow2"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        emit(_worker(args.worker, args.crop))
        return 0
    if not DATA.exists():
        print(f"pore_network: skipped, {DATA} is absent")
        return 0
    probe = subprocess.run([sys.executable, "-c", "import porespy"], capture_output=True,
                           text=True, check=False)
    ours = _run("ours", args.crop)
    peer = _run("snow2", args.crop) if probe.returncode == 0 else None
    print(f"NREL volume{f' (crop {args.crop}^3)' if args.crop else ''}, pore + CBD as pore space")
    print(f"{'method':>8} {'pores':>7} {'mean r um':>10} {'pores>1um':>10} {'mean r>1um':>11} "
          f"{'time s':>8} {'peak MB':>8}")
    for name, r in [("ours", ours)] + ([("snow2", peer)] if peer else []):
        print(f"{name:>8} {r['pores']:>7} {r['mean_radius_um']:>10.3f} {r['pores_above_1um']:>10} "
              f"{r['mean_radius_above_1um']:>11.3f} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f}")
    print(f"ours: {ours['throats']} throats")
    if peer is None:
        why = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
        print(f"pore_network: snow2 skipped, porespy unavailable ({why})")
        return 0
    print(f"pore_count_ratio        {ours['pores'] / peer['pores']:.3f}   (ours / snow2)")
    print(f"mean_radius_ratio       {ours['mean_radius_um'] / peer['mean_radius_um']:.3f}   "
          "(ours / snow2)")
    print(f"pore_network_speed_ratio {peer['seconds'] / ours['seconds']:.2f}   (goal >= 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
