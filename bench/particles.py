"""Particle database and initial structure: ``python -m bench particles [--repeats N]``.

``particles_database_s``: seconds to build the particle database from the shared NREL volume
  (251 × 301 × 301 = 22.7 M voxels: read, map phases, erode, watershed, dilate, crop, metrics),
  with the peak resident memory of the process. Goal ≤ 60 s on 2 cores. Same-run baselines: the
  time to read the volume, and one ``scipy.ndimage.distance_transform_edt`` of its AM mask (the
  dominant primitive); ``particles_database_over_edt`` is the ratio build / EDT.
``particles_structure_s``: seconds to build one paper-scale initial structure (``sweeps/paper-96-4
  .toml``: ~166 secondaries, ~10 000 AM beads, ~3 900 CBD beads in 80 × 80 × 120 µm³) from its
  synthetic database, with peak memory. Goal ≤ 10 s. Same-run baseline: the bare draw, the same
  secondaries rotated and placed once each and the CBD beads scattered, without any overlap
  check; ``particles_structure_over_bare_draw`` is the ratio.

Each part runs in a child process of its own, so that its peak resident set size (``VmHWM``)
is its own; the child's peak right after its imports and inputs is printed beside it as the
memory baseline. Skips with a message, exit status 0, when the shared
data folder (``../shared`` beside the checkout) is absent.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
VOLUME = SHARED / "data" / "nrel-nmc-1-cal-bridge.tif"
VOLUME_VOXEL_UM = 0.398
REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "sweeps" / "paper-96-4.toml"
DATABASE_GOAL_S = 60.0
STRUCTURE_GOAL_S = 10.0


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB.

    Linux's ``VmHWM`` belongs to the process image, so a child started by ``exec`` begins
    afresh; ``getrusage``'s ``ru_maxrss`` survives ``exec`` and would report the parent's peak
    at fork time, so it is only the fallback where ``/proc`` is absent.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _best(seconds: list[float]) -> float:
    return min(seconds)


def database_part(repeats: int) -> dict[str, float]:
    """Build the NREL database ``repeats`` times beside the read and EDT baselines."""
    from scipy import ndimage as ndi

    from mesosweep.stages.particles import build_database_from_file
    from mesosweep.stages.xct_io import read_volume

    rss_start = _peak_rss_mb()
    read_s, edt_s, build_s = [], [], []
    for _ in range(repeats):  # interleaved, so drifts in machine load hit all three alike
        started = time.perf_counter()
        volume = read_volume(VOLUME)
        read_s.append(time.perf_counter() - started)
        voxels = volume.size
        mask = volume == 1
        started = time.perf_counter()
        ndi.distance_transform_edt(mask)
        edt_s.append(time.perf_counter() - started)
        del volume, mask
        started = time.perf_counter()
        db = build_database_from_file(VOLUME, VOLUME_VOXEL_UM, am=1, cbd=2, pore=0)
        build_s.append(time.perf_counter() - started)
    return {
        "voxels": float(voxels),
        "particles": float(len(db)),
        "read_s": _best(read_s),
        "edt_s": _best(edt_s),
        "build_s": _best(build_s),
        "rss_start_mb": rss_start,
        "rss_peak_mb": _peak_rss_mb(),
    }


def _bare_draw(db, spec, rng) -> int:
    """The structure's beads without overlap checks: draw, rotate and place once, scatter CBD."""
    import numpy as np

    from mesosweep.stages.psd import as_psd_table, target_sample
    from mesosweep.stages.structure import (
        _draw_particles,
        _template,
        _wrap,
        bead_diameter_um,
        cbd_bead_count,
        downsample_mask,
        random_rotation,
    )

    st, f = spec.structure, spec.formulations[0]
    box = np.asarray(st.box_um, dtype=float)
    spacing = db.voxel_size_um * st.downsample
    cache: dict[int, object] = {}

    def template_of(index: int):
        if index not in cache:
            cache[index] = _template(downsample_mask(db.masks[index], st.downsample), spacing)
        return cache[index]

    drawn = _draw_particles(db, target_sample(as_psd_table(st.psd_table)),
                            st.am_volume_fraction * float(np.prod(box)),
                            lambda i: len(template_of(i).offsets_um), spacing**3, rng,
                            st.psd_sampling)
    points = [_wrap(template_of(i).offsets_um @ random_rotation(rng).T
                    + rng.uniform(0.0, box), box)[0]
              for i in drawn]
    n_am = sum(len(p) for p in points)
    n_cbd = cbd_bead_count(n_am, bead_diameter_um(db.voxel_size_um, st.downsample),
                           st.am_density_g_cm3, st.cbd_diameter_dried_um, st.cbd_density_g_cm3,
                           f.am_mass_percent, f.cbd_mass_percent)
    rng.uniform(0.0, 1.0, (n_cbd, 3))
    return n_am + n_cbd


def _preset(output: Path):
    """The paper-96-4 preset, writing (if ever) under ``output``."""
    import dataclasses

    from mesosweep.ensemble.spec import load_spec

    spec = load_spec(PRESET)
    return dataclasses.replace(spec,
                               sweep=dataclasses.replace(spec.sweep, output=output / "b.zarr"))


def prepare_preset_database(folder: Path) -> Path:
    """The preset's synthetic particle database, made exactly as a sweep makes it."""
    from mesosweep.ensemble.layout import SweepLayout
    from mesosweep.ensemble.runner import prepare_database

    spec = _preset(folder)
    return prepare_database(spec, SweepLayout(spec.sweep.output))


def structure_part(repeats: int, database: Path) -> dict[str, float]:
    """Build the paper-96-4 preset's first structure ``repeats`` times beside the bare draw."""
    import numpy as np

    from mesosweep.ensemble.plan import plan
    from mesosweep.stages.particles import load_database
    from mesosweep.stages.structure import build_structure

    spec = _preset(database.parent)
    db = load_database(database)
    rss_start = _peak_rss_mb()
    real = plan(spec)[0]
    st, f = spec.structure, real.formulation
    seed = real.seeds["structure"]
    bare_s, build_s = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        _bare_draw(db, spec, np.random.default_rng(seed))
        bare_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        s = build_structure(
            db, box_um=st.box_um, am_volume_fraction=st.am_volume_fraction,
            am_mass_percent=f.am_mass_percent, cbd_mass_percent=f.cbd_mass_percent,
            am_density_g_cm3=st.am_density_g_cm3, cbd_density_g_cm3=st.cbd_density_g_cm3,
            cbd_diameter_um=st.cbd_diameter_slurry_um,
            cbd_check_diameter_um=st.cbd_diameter_dried_um,
            downsample=st.downsample, shape=st.shape, psd_table=st.psd_table,
            psd_sampling=st.psd_sampling, rng=np.random.default_rng(seed))
        build_s.append(time.perf_counter() - started)
    am = s.phase == 1
    return {
        "secondaries": float(s.n_secondaries),
        "am_beads": float(am.sum()),
        "cbd_beads": float((~am).sum()),
        "psd_ks": s.psd_ks,
        "bare_s": _best(bare_s),
        "build_s": _best(build_s),
        "rss_start_mb": rss_start,
        "rss_peak_mb": _peak_rss_mb(),
    }


def _child(part: str, repeats: int, *extra: str) -> dict[str, float]:
    """Run one part in a fresh interpreter and read its JSON figures."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.particles", "--part", part, "--repeats", str(repeats),
         *extra],
        cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench part {part!r} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench particles", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of each measurement; the best counts (default 1: the database "
                             "build takes ~15 s)")
    parser.add_argument("--part", choices=("database", "structure"), help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.part is not None:  # inside the child: one part, figures as JSON on the last line
        if args.part == "database":
            figures = database_part(args.repeats)
        else:
            figures = structure_part(args.repeats, args.database)
        print(json.dumps(figures))
        return 0
    if not VOLUME.is_file():
        print(f"particles: skipped, the shared data folder is absent ({VOLUME} not found)")
        return 0

    db = _child("database", args.repeats)
    print(f"particle database, NREL volume ({db['voxels'] / 1e6:.1f} M voxels, "
          f"{db['particles']:.0f} whole particles), best of {args.repeats}:")
    print(f"  build from the file            {db['build_s']:>7.2f} s   "
          f"peak RSS {db['rss_peak_mb']:>7.0f} MB")
    print(f"  baseline: read the volume      {db['read_s']:>7.2f} s   "
          f"RSS after imports {db['rss_start_mb']:.0f} MB")
    print(f"  baseline: EDT of the AM mask   {db['edt_s']:>7.2f} s")
    print(f"particles_database_s             {db['build_s']:.2f}   "
          f"(goal <= {DATABASE_GOAL_S:.0f} s: "
          f"{'met' if db['build_s'] <= DATABASE_GOAL_S else 'MISSED'})")
    print(f"particles_database_over_edt      {db['build_s'] / db['edt_s']:.2f}")

    with tempfile.TemporaryDirectory(prefix="mesosweep-bench-") as tmp:
        # built here, so the child's peak memory is the structure's alone
        database = prepare_preset_database(Path(tmp))
        # it is cheap: always best of three or more
        st = _child("structure", max(args.repeats, 3), "--database", str(database))
    print(f"initial structure, {PRESET.name}: {st['secondaries']:.0f} secondaries, "
          f"{st['am_beads']:.0f} AM + {st['cbd_beads']:.0f} CBD beads, PSD KS {st['psd_ks']:.3f}:")
    print(f"  build_structure                {st['build_s']:>7.2f} s   "
          f"peak RSS {st['rss_peak_mb']:>7.0f} MB")
    print(f"  baseline: bare draw, no checks {st['bare_s']:>7.2f} s   RSS before building "
          f"{st['rss_start_mb']:.0f} MB")
    print(f"particles_structure_s            {st['build_s']:.2f}   "
          f"(goal <= {STRUCTURE_GOAL_S:.0f} s: "
          f"{'met' if st['build_s'] <= STRUCTURE_GOAL_S else 'MISSED'})")
    print(f"particles_structure_over_bare_draw {st['build_s'] / st['bare_s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
