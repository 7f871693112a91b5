"""Runner overhead and scaling: ``python -m bench runner_overhead [--realisations N] [--slurm]``.

- ``overhead_per_realisation_s``: realisations whose stages do no work, run through the full
  runner (plan, submission, worker-side store writes of every stage, progress, summary) on the
  embedded LocalCluster — wall time over the count, since the work is zero. Printed beside bare
  Dask (``client.map`` of a no-op on an equal cluster, measured in the same run). Goal ≤ 0.1 s
  locally, ≤ 1 s on Slurm (``--slurm``: needs the local Slurm of cluster/slurm-local.sh).
- ``scaling_efficiency`` (``--scaling``): N realisations of a real case on 1 and on 2 workers,
  T1 / (2 T2). Goal ≥ 0.9.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

from ensemble import store
from ensemble.plan import Realisation, degrees
from ensemble.realisation import Recorder, batch_job_id
from ensemble.spec import Spec, load_spec

SPEC = """
schema_version = 1
[sweep]
name = "bench"
root_seed = 7
realisations = {n}
output = "bench.zarr"
[cluster]
{cluster}
[particles]
count = 8
diameter_range_um = [2.0, 4.0]
[structure]
box_um = [11.0, 11.0, 36.0]
am_volume_fraction = 0.05
[[formulations]]
name = "96-4"
am_mass_percent = 96.0
cbd_mass_percent = 4.0
solid_content_percent = 69.0
dried_porosity_percent = 50.6
[process]
compression_degrees = [0.15, 0.35]
"""


def null_realisation(spec: Spec, real: Realisation, database: Path, launcher, store_path: Path
                     ) -> dict:
    """A realisation whose stages do no work but are recorded like real ones."""
    started = time.perf_counter()
    rec = Recorder(store_path, real)
    rec.write(attempts=1, started_at=time.time(), host=socket.gethostname(),
              job_id=batch_job_id(), status=store.RUNNING)
    for stage in store.STAGES:
        rec.stage(stage, store.RUNNING)
        rec.stage(stage, store.DONE, 0.0, 0)
    degs = degrees(spec)
    per = {d: {"porosity": 0.5, "thickness_um": 1.0, "springback": 0.0} for d in degs}
    rec.write(porosity=[0.5] * len(degs), thickness=[1.0] * len(degs),
              springback=[0.0] * len(degs), slurry_density=1.0, finished_at=time.time(),
              wall_time=time.perf_counter() - started, status=store.DONE)
    return {"per_degree": per, "wall_s": time.perf_counter() - started}


def submit_null(client, spec: Spec, real: Realisation, database: Path, launcher,
                store_path: Path):
    """The runner's hook: one no-work task per realisation."""
    return client.submit(null_realisation, spec, real, database, launcher, store_path,
                         key=f"null-{real.label}-{time.time_ns()}", pure=False)


def _noop(i: int) -> int:
    return i


def overhead(n: int, cluster_lines: str) -> tuple[float, float]:
    """(ours, bare Dask) seconds per realisation."""
    from distributed import Client, LocalCluster

    from ensemble.runner import run_sweep

    with tempfile.TemporaryDirectory(prefix="mesosweep-bench-") as tmp:
        spec_path = Path(tmp) / "bench.toml"
        spec_path.write_text(SPEC.format(n=n, cluster=cluster_lines))
        cwd = Path.cwd()
        try:
            os.chdir(tmp)
            spec = load_spec(spec_path)
            t0 = time.perf_counter()
            code = run_sweep(spec, out=io.StringIO(), submit_one=submit_null)
            ours = (time.perf_counter() - t0) / n
        finally:
            os.chdir(cwd)
        assert code == 0
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=40) as cluster, \
            Client(cluster) as client:
        client.gather(client.map(_noop, range(n)))
    bare = (time.perf_counter() - t0) / n
    return ours, bare


def scaling(n: int, spec_path: Path) -> float:
    """T1 / (2 T2) for ``n`` realisations of the spec on 1 and 2 local workers."""
    from ensemble.runner import run_sweep

    times = []
    for workers in (1, 2):
        text = spec_path.read_text()
        with tempfile.TemporaryDirectory(prefix="mesosweep-scale-") as tmp:
            text = re.sub(r"realisations = \d+", f"realisations = {n}", text)
            text = re.sub(r"workers = \d+", f"workers = {workers}", text)
            text = re.sub(r'output = ".*"', 'output = "scale.zarr"', text)
            (Path(tmp) / "s.toml").write_text(text)
            cwd = Path.cwd()
            os.chdir(tmp)
            try:
                spec = load_spec(Path(tmp) / "s.toml")
                t0 = time.perf_counter()
                assert run_sweep(spec, out=io.StringIO()) == 0
                times.append(time.perf_counter() - t0)
            finally:
                os.chdir(cwd)
        print(f"  {n} realisations on {workers} worker(s): {times[-1]:.1f} s", flush=True)
    return times[0] / (2 * times[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench runner_overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realisations", type=int, default=200)
    parser.add_argument("--slurm", action="store_true", help="also on the local Slurm")
    parser.add_argument("--scaling", type=int, default=0, metavar="N",
                        help="also measure scaling with N realisations of sweeps/quick.toml")
    args = parser.parse_args(argv)
    n = args.realisations
    ours, bare = overhead(n, 'kind = "local"\nworkers = 2')
    print(f"local: {n} no-work realisations through the runner: {ours:.4f} s each; bare Dask "
          f"no-op tasks: {bare:.4f} s each; ratio {ours / bare:.1f}")
    print(f"overhead_per_realisation_s (local)  {ours:.4f}   (goal <= 0.1)")
    if args.slurm:
        ours, bare = overhead(n, 'kind = "slurm"\nworkers = 2\nqueue = "debug"\n'
                                 'walltime = "00:30:00"\nmemory = "1GB"\n'
                                 'scheduler_host = "127.0.0.1"')
        print(f"overhead_per_realisation_s (slurm)  {ours:.4f}   (goal <= 1; bare local Dask "
              f"{bare:.4f})")
    if args.scaling:
        repo = Path(__file__).resolve().parents[1]
        eff = scaling(args.scaling, repo / "sweeps" / "quick.toml")
        print(f"scaling_efficiency (1 -> 2 workers)  {eff:.3f}   (goal >= 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
