"""Runner overhead and scaling: ``python -m bench runner_overhead [--realisations N] [--slurm]``.

- ``overhead_per_realisation_s``: realisations whose stages do no work, run through the full
  runner (plan, the same task graph as a real realisation — dried, one branch per degree, one
  analysis per state, the join — with its worker-side store writes, progress, summary) on the
  embedded LocalCluster — wall time over the count, since the work is zero. Printed beside bare
  Dask (``client.map`` of a no-op on an equal cluster, measured in the same run). Goal ≤ 0.1 s
  locally, ≤ 1 s on Slurm (``--slurm``: needs the local Slurm of cluster/slurm-local.sh).
- ``scaling_efficiency`` (``--scaling``): N realisations of a real case on 1 and on 2 workers,
  T1 / (2 T2). Goal ≥ 0.9.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mesosweep.analysis.summary import METRICS
from mesosweep.ensemble import store
from mesosweep.ensemble.plan import Realisation, degrees
from mesosweep.ensemble.realisation import Recorder, batch_job_id
from mesosweep.ensemble.spec import Spec, load_spec

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


def _null_dried(spec: Spec, real: Realisation, store_path: Path) -> dict:
    started = time.time()
    rec = Recorder(store_path, real)
    rec.write(attempts=1, started_at=started, host=socket.gethostname(), job_id=batch_job_id(),
              error="", log_tail="", status=store.RUNNING)
    for stage in ("structure", "slurry", "drying"):
        rec.stage(stage, store.RUNNING)
        rec.stage(stage, store.DONE, 0.0, 0)
    return {"started_at": started}


def _null_branch(spec: Spec, real: Realisation, stage: str, store_path: Path, upstream: dict
                 ) -> dict:
    Recorder(store_path, real).stage(stage, store.RUNNING)
    return {}


def _null_finish(spec: Spec, real: Realisation, store_path: Path, dried: dict, branches: list,
                 analyses: list) -> dict:
    """Writes what the real join writes: every metric per degree, then the status."""
    rec = Recorder(store_path, real)
    degs = degrees(spec)
    rec.stage("calendering", store.DONE, 0.0, 0)
    rec.stage("analysis", store.DONE)
    metrics = {name: np.full((len(degs), *m.shape), 0.5) for name, m in METRICS.items()}
    rec.write(**metrics, springback=np.zeros(len(degs)), slurry_density=1.0,
              wall_time=time.time() - dried["started_at"], lammps_launches=0,
              finished_at=time.time(), status=store.DONE)
    return {"per_degree": {d: {"porosity": 0.5} for d in degs},
            "wall_s": time.time() - dried["started_at"]}


def submit_null(client, spec: Spec, real: Realisation, database: Path, launcher,
                store_path: Path):
    """The runner's hook: the same task graph as a real realisation, with no work in it."""
    tag = f"{real.label}-{time.time_ns()}"
    dried = client.submit(_null_dried, spec, real, store_path, key=f"d-{tag}", pure=False)
    chain = [d for d in degrees(spec) if d]
    pressed = []
    for k, _ in enumerate(chain):
        pressed.append(client.submit(_null_branch, spec, real, "calendering", store_path,
                                     pressed[-1] if pressed else dried, key=f"p{k}-{tag}",
                                     pure=False))
    branches = [client.submit(_null_branch, spec, real, "calendering", store_path, pressed[k],
                              key=f"c{k}-{tag}", pure=False) for k, _ in enumerate(chain)]
    analyses = [client.submit(_null_branch, spec, real, "analysis", store_path,
                              branches[k - 1] if k else dried, key=f"a{k}-{tag}", pure=False)
                for k, _ in enumerate(degrees(spec))]
    return client.submit(_null_finish, spec, real, store_path, dried, [*pressed, *branches],
                         analyses, key=f"f-{tag}", pure=False)


def _noop(i: int) -> int:
    return i


def overhead(n: int, cluster_lines: str) -> tuple[float, float]:
    """(ours, bare Dask) seconds per realisation."""
    from distributed import Client, LocalCluster

    from mesosweep.ensemble.runner import run_sweep

    with tempfile.TemporaryDirectory(prefix="mesosweep-bench-") as tmp:
        spec_path = Path(tmp) / "bench.toml"
        spec_path.write_text(SPEC.format(n=n, cluster=cluster_lines))
        cwd = Path.cwd()
        try:
            os.chdir(tmp)
            spec = load_spec(spec_path)
            t0 = time.perf_counter()
            code = run_sweep(spec, submit_one=submit_null)
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
    from mesosweep.ensemble.runner import run_sweep

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
                assert run_sweep(spec) == 0
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
