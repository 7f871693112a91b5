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
