"""The job scripts each batch backend writes: one worker per job, sized for the MPI ranks, TLS,
the spec's validated settings only. (The Slurm backend also runs for real: tests/test_slurm.py.)"""

import pytest

from mesosweep.cluster import lsf, pbs, sge, slurm


@pytest.mark.parametrize("backend,expect", [
    (slurm, ["#SBATCH --ntasks=4", "#SBATCH --cpus-per-task=1", "#SBATCH -p compute",
             "#SBATCH -A proj", "#SBATCH -t 02:00:00", "#SBATCH --exclusive"]),
    (pbs, ["#PBS -q compute", "select=1:ncpus=4:mpiprocs=4", "#PBS -l walltime=02:00:00",
           "#PBS --exclusive"]),
    (lsf, ["#BSUB -q compute", "#BSUB -n 4", "#BSUB -W 02:00", "#BSUB --exclusive"]),
    (sge, ["#$ -q compute", "#$ -pe mpi 4", "#$ -l h_rt=02:00:00", "#$ --exclusive"]),
])
def test_job_script(backend, expect, tmp_path, monkeypatch):
    made = {}

    def keep(cluster, jobs, launcher, kind, adaptive=False):  # the script, not a job
        made["script"] = cluster.job_script()
        made["launcher"] = launcher
        cluster.close()

    monkeypatch.setattr(backend, "started", keep)
    if backend is slurm:  # sbatch --test-only needs a Slurm; the real one is tested elsewhere
        monkeypatch.setattr(backend, "check_job_script", lambda script, workdir: None)
    backend.start(workers=2, ranks=4, queue="compute", account="proj", walltime="02:00:00",
                  memory="8GB", extra_directives=("--exclusive",), workdir=tmp_path,
                  name="t", scheduler_host="127.0.0.1")
    script = made["script"]
    for line in expect:
        assert line in script, (line, script)
    assert "--nthreads 1" in script  # one realisation at a time per worker
    assert "--protocol tls://" in script and "--tls-cert" in script
    assert "--lifetime 6900s" in script  # retires 5 minutes before the walltime
    assert "tls://127.0.0.1:" in script
    assert made["launcher"][-1] in ("--mpi=pmi2", "4")


def _script(backend, memory: str, tmp_path, monkeypatch) -> str:
    made = {}

    def keep(cluster, jobs, launcher, kind, adaptive=False):
        made["script"] = cluster.job_script()
        cluster.close()

    monkeypatch.setattr(backend, "started", keep)
    if backend is slurm:
        monkeypatch.setattr(backend, "check_job_script", lambda script, workdir: None)
    backend.start(workers=1, ranks=2, queue=None, account=None, walltime="01:00:00",
                  memory=memory, extra_directives=(), workdir=tmp_path, name="t")
    return made["script"]


@pytest.mark.parametrize("backend,memory,line", [
    # dask-jobqueue converts for Slurm (whole K/M/G, rounded up) and LSF (-M in LSF's unit)
    (slurm, "16GiB", "#SBATCH --mem=16G"),
    (slurm, "8GB", "#SBATCH --mem=8G"),
    (lsf, "8GB", "#BSUB -M 8000000"),
    # PBS: a whole number of kb/mb/gb/tb, powers of 1024 ("GiB" is not a PBS unit)
    (pbs, "16GiB", "mpiprocs=2:mem=16gb\n"),
    (pbs, "8GB", "mpiprocs=2:mem=7812500kb\n"),
    (pbs, "1.5GiB", "mpiprocs=2:mem=1536mb\n"),
    # SGE: a whole number and one of G g M m K k ("GB" is not an SGE unit)
    (sge, "8GB", "#$ -l h_vmem=8g\n"),
    (sge, "16GiB", "#$ -l h_vmem=16G\n"),
    (sge, "1.5GB", "#$ -l h_vmem=1500m\n"),
])
def test_memory_reaches_each_batch_system_in_its_own_units(backend, memory, line, tmp_path,
                                                           monkeypatch):
    script = _script(backend, memory, tmp_path, monkeypatch)
    assert line in script, script
    directive = next(x for x in script.splitlines() if line.strip() in x)
    assert " " not in directive.split(None, 2)[-1], directive  # one token: never split


@pytest.mark.parametrize("kind", ["slurm", "pbs", "lsf", "sge"])
def test_memory_with_a_space_or_too_little_is_refused_per_batch_system(kind, tmp_path):
    from mesosweep.ensemble.spec import SpecError, parse_spec

    def problems(memory: str) -> tuple[str, ...]:
        data = {"sweep": {"name": "m", "root_seed": 1, "realisations": 1,
                          "output": str(tmp_path / "m.zarr")},
                "cluster": {"kind": kind, "memory": memory},
                "formulations": [{"name": "a", "am_mass_percent": 96.0, "cbd_mass_percent": 4.0,
                                  "solid_content_percent": 69.0,
                                  "dried_porosity_percent": 50.6}],
                "process": {"compression_degrees": [0.2]}}
        with pytest.raises(SpecError) as info:
            parse_spec(data, base_dir=tmp_path)
        return info.value.problems

    (spaced,) = problems("4 GB")
    assert spaced.startswith("cluster.memory: ") and "without a space" in spaced
    (small,) = problems("100MB")
    assert small.startswith("cluster.memory: ") and "256 MiB" in small and kind in small
