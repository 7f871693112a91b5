"""Tortuosity factor on the NREL volume: ``python -m bench tortuosity [--axes 0 1 2] [--crop N]``.

The volume ``../shared/data/nrel-nmc-1-cal-bridge.tif`` (251 x 301 x 301 voxels) with pore and
CBD as one conducting phase; one run per axis and solver, each in a fresh process so that its
peak memory is its own.

``tau_agreement``: ``|tau_ours / tau_peer - 1|`` per axis. Goal < 0.01.
``tortuosity_speed_ratio``: the peer's wall time over ours, per axis (set-up included). Goal >= 3.
Peak memory: the worker process's peak resident set (interpreter and libraries included) and
its increment over the loaded image.

The peer is taufactor (CPU build; optional: ``pip install torch taufactor``) at its default
convergence criterion, with torch's default threads (all cores); ours is single-threaded.
Without taufactor the figures compare against our own solver converged to ``rtol=1e-9`` and
no speed ratio is printed. ``tau_exact`` (ours at ``rtol=1e-9``) is shown either way.
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


def _rss_mb() -> float:
    """Current resident set of this process, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _conducting(crop: int | None) -> np.ndarray:
    import tifffile

    image = tifffile.imread(DATA)
    if crop:
        image = image[:crop, :crop, :crop]
    return image != 1  # pore (0) and CBD (2) conduct, NMC (1) blocks


def _worker(solver: str, axis: int, crop: int | None, rtol: float) -> dict:
    # Libraries are imported before the baseline so the increment is the solve's own.
    if solver == "taufactor":
        import taufactor
    else:
        from mesosweep.analysis.tortuosity import tortuosity_factor
    mask = _conducting(crop)
    base = _rss_mb()
    started = time.perf_counter()
    if solver == "taufactor":
        image = np.ascontiguousarray(np.moveaxis(mask, axis, 0)).astype(np.uint8)
        peer = taufactor.Solver(image, device="cpu")
        tau = float(np.asarray(peer.solve(verbose=False)).reshape(-1)[0])
        iterations = int(peer.iter)
    else:
        result = tortuosity_factor(mask, axis=axis, rtol=rtol)
        tau, iterations = result.tau, result.iterations
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"tau": tau, "seconds": seconds, "iterations": iterations, "peak_mb": peak,
            "increment_mb": peak - base}


def _run(solver: str, axis: int, crop: int | None, rtol: float = 1e-5) -> dict:
    args = ["--worker", solver, "--axes", str(axis), "--rtol", str(rtol)]
    return run_worker("bench.tortuosity", args + (["--crop", str(crop)] if crop else []), solver)


def _peer_available() -> str | None:
    """None when taufactor can run here, else why not."""
    probe = "import torch, taufactor"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=False)
    if done.returncode == 0:
        return None
    return (done.stderr.strip().splitlines() or ["import failed"])[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench tortuosity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--axes", type=int, nargs="+", default=[0, 1, 2], help="transport axes")
    parser.add_argument("--crop", type=int, default=None, help="use the first N^3 voxels only")
    parser.add_argument("--rtol", type=float, default=1e-5, help="our solver's tolerance")
    parser.add_argument("--worker", choices=("ours", "taufactor"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        emit(_worker(args.worker, args.axes[0], args.crop, args.rtol))
        return 0
    if not DATA.exists():
        print(f"tortuosity: skipped, {DATA} is absent")
        return 0

    missing = _peer_available()
    if missing:
        print(f"tortuosity: taufactor unavailable ({missing}); comparing with our own solver "
              "at rtol=1e-9 instead, no speed ratio")
    print(f"NREL volume{f' (crop {args.crop}^3)' if args.crop else ''}, pore + CBD conducting; "
          f"ours at rtol={args.rtol:g}")
    print(f"{'axis':>4} {'solver':>10} {'tau':>10} {'iters':>6} {'time s':>8} "
          f"{'peak MB':>8} {'incr MB':>8}")
    for axis in args.axes:
        ours = _run("ours", axis, args.crop, args.rtol)
        exact = _run("ours", axis, args.crop, 1e-9)
        peer = None if missing else _run("taufactor", axis, args.crop)
        rows = [("ours", ours), ("exact", exact)] + ([("taufactor", peer)] if peer else [])
        for name, r in rows:
            print(f"{axis:>4} {name:>10} {r['tau']:>10.6f} {r['iterations']:>6} "
                  f"{r['seconds']:>8.1f} {r['peak_mb']:>8.0f} {r['increment_mb']:>8.0f}")
        reference = peer or exact
        agreement = abs(ours["tau"] / reference["tau"] - 1.0)
        print(f"axis {axis}: tau_agreement {agreement:.2e} vs "
              f"{'taufactor' if peer else 'exact'} (goal < 1e-2)")
        if peer:
            print(f"axis {axis}: taufactor error vs exact "
                  f"{abs(peer['tau'] / exact['tau'] - 1.0):.2e}; tortuosity_speed_ratio "
                  f"{peer['seconds'] / ours['seconds']:.2f} (goal >= 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
