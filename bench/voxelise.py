"""Voxelising a paper-scale electrode: ``python -m bench voxelise [--voxel-um 0.2] [--repeats 3]``.

Beads as in the paper's 94:6 electrode (targets.md): 165 secondaries of 9494 primary AM beads
(1.59 µm) and 5458 CBD beads (1.3 µm), 14 952 beads in an 80 x 80 µm² box whose height gives
50 % porosity, plus 50 % headroom above; 0.2 µm voxels.

``voxelise_time``: wall time of ``analysis.voxelise.voxelise`` (best of ``repeats``). Goal < 2 s.
``voxelise_speed_ratio``: a bare NumPy per-bead loop (each bead stamps its bounding box, keeps
the nearest AM centre per voxel in a distance buffer) over ours, same rules, same run; the two
images are checked equal.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from mesosweep.analysis.phases import AM, CBD, PORE
from mesosweep.analysis.voxelise import n_voxels, voxelise

AM_BEADS, CBD_BEADS, SECONDARIES = 9494, 5458, 165
AM_DIAMETER_UM, CBD_DIAMETER_UM, BOX_XY_UM = 1.59, 1.3, 80.0


def electrode(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Bead positions, diameters, phases, particle ids and box of a paper-scale electrode."""
    rng = np.random.default_rng(seed)
    solid = AM_BEADS * np.pi / 6 * AM_DIAMETER_UM**3 + CBD_BEADS * np.pi / 6 * CBD_DIAMETER_UM**3
    height = solid / 0.5 / BOX_XY_UM**2
    owner = rng.integers(0, SECONDARIES, AM_BEADS)
    centres = rng.uniform([0, 0, 0], [BOX_XY_UM, BOX_XY_UM, height], (SECONDARIES, 3))
    # Primaries fill a ball around their secondary's centre (radius for ~58 beads at 0.6 packing).
    radius = np.cbrt(AM_BEADS / SECONDARIES / 0.6) * AM_DIAMETER_UM / 2
    direction = rng.normal(size=(AM_BEADS, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    am = centres[owner] + direction * radius * np.cbrt(rng.uniform(size=(AM_BEADS, 1)))
    cbd = rng.uniform([0, 0, 0], [BOX_XY_UM, BOX_XY_UM, height], (CBD_BEADS, 3))
    position = np.vstack([am, cbd])
    position[:, :2] %= BOX_XY_UM
    position[:, 2] = np.clip(position[:, 2], 0.0, height)
    diameter = np.r_[np.full(AM_BEADS, AM_DIAMETER_UM), np.full(CBD_BEADS, CBD_DIAMETER_UM)]
    phase = np.r_[np.full(AM_BEADS, AM), np.full(CBD_BEADS, CBD)]
    particle = np.r_[owner + 1, np.zeros(CBD_BEADS, dtype=np.int64)]
    box = np.array([BOX_XY_UM, BOX_XY_UM, 1.5 * height])
    return position, diameter, phase, particle, box


def per_bead_loop(position, diameter, phase, particle, box, voxel):
    """The bare baseline: one bead at a time, its bounding box of voxels, periodic x/y."""
    shape = tuple(n_voxels(length, voxel) for length in box)
    phase_img = np.full(shape, PORE, dtype=np.uint8)
    particle_img = np.zeros(shape, dtype=np.int32)
    nearest = np.full(shape, np.inf, dtype=np.float64)
    order = np.r_[np.flatnonzero(phase == CBD), np.flatnonzero(phase == AM)]  # AM paints last
    for b in order:
        u = position[b] / voxel - 0.5  # voxel centres at integer u
        r = 0.5 * diameter[b] / voxel
        axes = [np.arange(int(np.floor(u[k] - r)), int(np.ceil(u[k] + r)) + 1) for k in range(3)]
        axes[2] = axes[2][(axes[2] >= 0) & (axes[2] < shape[2])]
        d2 = sum(np.subtract.outer(a, u[k]).reshape([-1 if i == k else 1 for i in range(3)]) ** 2
                 for k, a in enumerate(axes))
        inside = d2 <= r * r
        index = np.ix_(axes[0] % shape[0], axes[1] % shape[1], axes[2])
        if phase[b] == CBD:
            phase_img[index] = np.where(inside, CBD, phase_img[index])
            continue
        closer = inside & (d2 < nearest[index])
        phase_img[index] = np.where(inside, AM, phase_img[index])
        particle_img[index] = np.where(closer, particle[b], particle_img[index])
        nearest[index] = np.where(closer, d2, nearest[index])
    return phase_img, particle_img


def _best(fn, repeats: int) -> tuple[float, tuple]:
    times, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench voxelise", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voxel-um", type=float, default=0.2, help="voxel edge (µm)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side; best counts")
    args = parser.parse_args(argv)
    beads = electrode()
    ours_s, (phase_img, particle_img) = _best(lambda: voxelise(*beads, args.voxel_um), args.repeats)
    base_s, (base_phase, base_particle) = _best(
        lambda: per_bead_loop(*beads, args.voxel_um), max(1, args.repeats - 2))
    same_phase = np.array_equal(phase_img, base_phase)
    # Exact distance ties between two beads may resolve differently; count them.
    differ = int(np.count_nonzero(particle_img != base_particle))
    print(f"{len(beads[0])} beads, box {beads[4].round(1).tolist()} um, voxel {args.voxel_um} um, "
          f"image {phase_img.shape} = {phase_img.size / 1e6:.1f} M voxels")
    print(f"  ours (analysis.voxelise)  {ours_s:8.2f} s")
    print(f"  per-bead NumPy loop        {base_s:8.2f} s   (phase images equal: {same_phase}; "
          f"particle ids differing in {differ} voxels)")
    print(f"voxelise_time         {ours_s:.2f} s   (goal < 2 s)")
    print(f"voxelise_speed_ratio  {base_s / ours_s:.1f}")
    return 0 if same_phase else 1


if __name__ == "__main__":
    sys.exit(main())
