"""How much work a sweep asks for, estimated from its spec before anything runs.

Every field of a spec is bounded on its own (:mod:`mesosweep.ensemble.schema`); together they
can still ask for more than can finish: a large box at a small voxel, a slow plane at a small
timestep. :func:`estimate` turns a valid spec into what one realisation will hold and do (beads,
voxels of its images, steps of its plane passes, memory), and :func:`check_workload` refuses a
sweep that cannot finish, naming the fields and the estimate. The estimates are lower bounds
(the structure draws particles until the AM volume is reached, the slurry box shrinks): a sweep
refused here cannot run, and one accepted may still need more.

``mesosweep run`` calls :func:`check_workload` after the spec and its force fields are read, for
``--check`` too, and ``--check`` prints :meth:`Workload.summary`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mesosweep.cluster.memory import memory_bytes
from mesosweep.ensemble.schema import MAX_RUN_STEPS, Spec
from mesosweep.errors import SpecError

__all__ = ["MAX_BEADS", "Bases", "COST_MODEL", "Cost", "CostModel", "Workload", "check_workload",
           "estimate", "estimate_cost", "machine_memory_bytes"]

#: LAMMPS numbers atoms with 32-bit ids (its default build): a realisation holds fewer beads.
MAX_BEADS = 2**31 - 1
# Memory below which nothing runs, per item (lower bounds, so only what cannot fit is refused):
# a LAMMPS bead carries position, velocity, force, torque, radius, mass, its bonds and its
# neighbours' contact history, well over 1 KiB; an analysed voxel at least one float64 of the
# tortuosity solve; a synthetic voxel its label and a float64 distance transform.
BYTES_PER_BEAD = 1024
BYTES_PER_ANALYSIS_VOXEL = 8
BYTES_PER_SYNTHETIC_VOXEL = 9
# The synthetic volume holds its particles at a solid fraction of 0.2 (stages.synthetic); the
# estimate takes 0.5, fewer voxels, so it stays a lower bound.
SYNTHETIC_PACKING = 0.5
# A primary in a secondary has up to 6 face and 12 edge neighbours: the stiffest bond lattice
# bounds the timestep (stages.forcefield.bond_period_us).
MOST_BONDS = 18
GIB = 1024**3


@dataclass(frozen=True)
class Workload:
    """What one realisation of a sweep holds and does, at least.

    Attributes
    ----------
    am_beads, cbd_beads : int
        Primary AM beads and CBD beads of a realisation (the largest formulation's).
    synthetic_voxels : int
        Voxels of the synthetic XCT volume the driver generates (0 for a database).
    analysis_voxels : int
        Voxels of one image of the dried electrode at ``analysis.voxel_size_um``.
    drying_pass_steps, pressing_pass_steps : int
        Steps of the drying plane's descent from the slurry box's top to the dried film, and of
        the pressing to the deepest degree, at the plane's speed and the estimated timestep.
    plane_steps : int
        The longer of the two: what one LAMMPS run must hold.
    realisation_bytes, driver_bytes : int
        Memory one realisation needs, and the driver to generate the synthetic database.
    """

    am_beads: int
    cbd_beads: int
    synthetic_voxels: int
    analysis_voxels: int
    drying_pass_steps: int
    pressing_pass_steps: int
    realisation_bytes: int
    driver_bytes: int

    @property
    def beads(self) -> int:
        return self.am_beads + self.cbd_beads

    @property
    def plane_steps(self) -> int:
        return max(self.drying_pass_steps, self.pressing_pass_steps)

    def summary(self) -> str:
        """One line for ``--check``: beads, image voxels, plane steps and memory."""
        return (f"about {self.beads:,} beads ({self.am_beads:,} AM, {self.cbd_beads:,} CBD), "
                f"{self.analysis_voxels:,} voxels per image, {self.plane_steps:,} steps in the "
                f"longest plane pass and at least {_gib(self.realisation_bytes)} per realisation")


def _gib(nbytes: float) -> str:
    return f"{nbytes / GIB:.3g} GiB"


def machine_memory_bytes() -> int | None:
    """Physical memory of this machine (None where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _xct_voxel_um(spec: Spec) -> float:
    """Voxel edge of the particles' source: the synthetic volume's, or the database's."""
    if spec.particles.source == "synthetic":
        return spec.particles.voxel_size_um
    # Lazy: the database format belongs to the stages (numpy; read only for a database).
    from mesosweep.stages.particles import peek_database  # noqa: PLC0415

    return peek_database(spec.particles.database).voxel_size_um


def _mean_cube(low: float, high: float) -> float:
    """Mean of d³ for d uniform in [low, high]."""
    if high <= low:
        return low**3
    return (high**4 - low**4) / (4.0 * (high - low))


def estimate(spec: Spec) -> Workload:
    """The work one realisation of ``spec`` asks for (see :class:`Workload`); the force fields
    named in the spec must load (:func:`~mesosweep.ensemble.spec.check_forcefields`)."""
    # Lazy: the timestep bound belongs to the force fields of the stages (stdlib only).
    from mesosweep.ensemble.spec import resolve_forcefield  # noqa: PLC0415
    from mesosweep.stages.forcefield import load_forcefield, stable_timestep_us  # noqa: PLC0415

    st, p = spec.structure, spec.particles
    edge = _xct_voxel_um(spec) * st.downsample  # a primary bead replaces one such cube
    lx, ly, lz = st.box_um
    am_beads = math.ceil(lx * ly * lz * st.am_volume_fraction / edge**3)
    am_volume = am_beads * edge**3
    cbd_bead_um3 = math.pi / 6 * st.cbd_diameter_dried_um**3
    cbd_beads, dried_um = 0, 0.0
    for f in spec.formulations:
        # CBD mass follows the AM mass by the formulation; dried beads carry it.
        cbd_mass = am_volume * st.am_density_g_cm3 * f.cbd_mass_percent / f.am_mass_percent
        n = round(cbd_mass / (st.cbd_density_g_cm3 * cbd_bead_um3))
        cbd_beads = max(cbd_beads, n)
        solid = am_volume + n * cbd_bead_um3
        dried_um = max(dried_um, solid / (1 - f.dried_porosity_percent / 100) / (lx * ly))
    analysis_voxels = math.ceil(lx * ly * dried_um / spec.analysis.voxel_size_um**3)
    synthetic_voxels = 0
    if p.source == "synthetic":
        solid = p.count * math.pi / 6 * _mean_cube(*p.diameter_range_um) / p.voxel_size_um**3
        synthetic_voxels = math.ceil(solid / SYNTHETIC_PACKING)
    # The timestep of the stiffest contact or bond, as the stages compute it, in both sets.
    bead_um = edge * (6 / math.pi) ** (1 / 3)
    beads = {"am": (bead_um, st.am_density_g_cm3),
             "cbd": (min(st.cbd_diameter_dried_um, st.cbd_diameter_slurry_um),
                     st.cbd_density_g_cm3)}
    dt = spec.numerics.timestep_fraction * min(
        stable_timestep_us(load_forcefield(resolve_forcefield(name)), beads, MOST_BONDS)
        for name in (spec.numerics.forcefield_slurry, spec.numerics.forcefield_dried))
    # Drying brings the plane down from the slurry box's top; pressing goes to the deepest
    # degree of the dried film.
    step_um = spec.process.calendering_speed_um_per_us * dt
    return Workload(
        am_beads=am_beads, cbd_beads=cbd_beads, synthetic_voxels=synthetic_voxels,
        analysis_voxels=analysis_voxels,
        drying_pass_steps=math.ceil(max(lz - dried_um, 0.0) / step_um),
        pressing_pass_steps=math.ceil(max(spec.process.compression_degrees) * dried_um / step_um),
        realisation_bytes=(am_beads + cbd_beads) * BYTES_PER_BEAD
        + analysis_voxels * BYTES_PER_ANALYSIS_VOXEL,
        driver_bytes=synthetic_voxels * BYTES_PER_SYNTHETIC_VOXEL)


def check_workload(spec: Spec) -> Workload:
    """The estimate of ``spec``'s work, or :class:`SpecError` (one line per problem, with the
    estimate and the fields to change) when a realisation cannot finish: more beads than LAMMPS
    numbers, a plane pass longer than one LAMMPS run, more memory than a worker's job
    (``cluster.memory``) or this machine holds."""
    work = estimate(spec)
    p, c = spec.particles, spec.cluster
    lines = []
    bead_fields = ("structure.box_um, structure.am_volume_fraction, structure.downsample and "
                   + ("particles.voxel_size_um" if p.source == "synthetic"
                      else "the database's voxel size")
                   + " (beads), structure.cbd_diameter_dried_um (CBD beads)")
    if work.beads > MAX_BEADS:
        lines.append(f"structure: a realisation would hold about {work.beads:,} beads, more than "
                     f"the {MAX_BEADS:,} LAMMPS can number; shrink {bead_fields}")
    if work.plane_steps > MAX_RUN_STEPS:
        lines.append(f"process.calendering_speed_um_per_us: got "
                     f"{spec.process.calendering_speed_um_per_us!r}; a plane pass would take "
                     f"about {work.plane_steps:,} steps at numerics.timestep_fraction = "
                     f"{spec.numerics.timestep_fraction!r}, more than one LAMMPS run holds "
                     f"({MAX_RUN_STEPS:,}); raise the speed or the timestep fraction")
    machine = machine_memory_bytes()
    if c.kind == "local":
        # Local workers run their realisations side by side on this machine.
        side_by_side = min(c.workers, spec.sweep.realisations * len(spec.formulations))
        room, where = machine, "this machine's"
        need = work.realisation_bytes * side_by_side
        also = f" ({side_by_side} at once, one per worker)" if side_by_side > 1 else ""
    else:
        room, where = memory_bytes(c.memory), f'cluster.memory = "{c.memory}" of each job,'
        need, also = work.realisation_bytes, ""
    if room is not None and need > room:
        lines.append(f"structure: realisations need at least {_gib(need)}{also} for "
                     f"{work.beads:,} beads and images of {work.analysis_voxels:,} voxels, more "
                     f"than {where} {_gib(room)}; shrink {bead_fields} or raise "
                     f"analysis.voxel_size_um" + ("" if c.kind == "local"
                                                  else ", or raise cluster.memory"))
    if machine is not None and work.driver_bytes > machine:
        lines.append(f"particles: the synthetic XCT volume of particles.count = {p.count} "
                     f"particles up to {p.diameter_range_um[1]!r} um at "
                     f"particles.voxel_size_um = {p.voxel_size_um!r} would hold about "
                     f"{work.synthetic_voxels:,} voxels and need at least "
                     f"{_gib(work.driver_bytes)}, more than this machine's {_gib(machine)}; "
                     f"lower particles.count or raise particles.voxel_size_um")
    if lines:
        raise SpecError(lines)
    return work


# --------------------------------------------------------------------------------------------
# Cost: core-hours of a realisation's LAMMPS stages, from a model calibrated on measured runs

#: The model and its calibration runs, with their sources (read each time; small).
COST_MODEL = Path(__file__).with_name("cost_model.toml")
COST_STAGES = ("slurry", "drying", "pressing", "release")


def _geometric(values: list[float]) -> tuple[float, float]:
    """Geometric mean and geometric standard deviation (1 for fewer than two values)."""
    logs = [math.log(v) for v in values]
    mean = sum(logs) / len(logs)
    if len(logs) < 2:
        return math.exp(mean), 1.0
    var = sum((x - mean) ** 2 for x in logs) / (len(logs) - 1)
    return math.exp(mean), math.exp(math.sqrt(var))


@dataclass(frozen=True)
class Bases:
    """What a realisation's step counts follow from, for one spec (see cost_model.toml)."""

    beads: int
    check_steps: int
    relax_check_steps: int
    drying_pass_steps: int
    pressing_pass_steps: int
    degrees: int
    slurry_max_steps: int
    drying_max_steps: int
    relax_max_steps: int

    @classmethod
    def of(cls, spec: Spec, work: Workload) -> Bases:
        n = spec.numerics
        return cls(beads=work.beads, check_steps=n.check_steps,
                   relax_check_steps=n.relax_check_steps or n.check_steps,
                   drying_pass_steps=work.drying_pass_steps,
                   pressing_pass_steps=work.pressing_pass_steps,
                   degrees=len(spec.process.compression_degrees),
                   slurry_max_steps=n.slurry_max_steps, drying_max_steps=n.drying_max_steps,
                   relax_max_steps=n.relax_max_steps)


@dataclass(frozen=True)
class Cost:
    """Core-hours of one realisation's LAMMPS stages (:meth:`CostModel.predict`).

    ``steps`` and ``core_hours`` per stage (slurry, drying, pressing, release: the last two
    over every degree); ``low`` and ``high`` bound the total by the model's one-sigma error
    factor; ``at_caps`` is the total were every capped stage to run to its cap.
    """

    steps: dict[str, int]
    core_hours: dict[str, float]
    error_factor: float
    at_caps: float

    @property
    def total(self) -> float:
        return sum(self.core_hours.values())

    @property
    def low(self) -> float:
        return self.total / self.error_factor

    @property
    def high(self) -> float:
        return self.total * self.error_factor


@dataclass(frozen=True)
class CostModel:
    """The fitted model of ``cost_model.toml``: core-seconds per bead-step and step factors per
    stage, the error factor, and what it was calibrated on."""

    cost: dict[str, float]  # core-s per bead-step
    slurry_checks: float
    drying_factor: float
    pressing_factor: float
    release_checks: float
    error_factor: float  # geometric sd of predicted / measured realisation totals
    runs: int  # full realisations it was calibrated on
    beads_range: tuple[int, int]
    ranks_range: tuple[int, int]

    @classmethod
    def load(cls, path: Path = COST_MODEL) -> CostModel:
        """Fit the model to the runs of ``path``."""
        runs = tomllib.loads(path.read_text(encoding="utf-8"))["runs"]
        cost = {s: _geometric([r["ranks"] * r["stages"][s]["wall_s"]
                               / (r["beads"] * r["stages"][s]["steps"])
                               for r in runs if s in r["stages"]])[0] for s in COST_STAGES}

        def factor(stage: str, base: Callable[[dict], float], capped: str = "") -> float:
            return _geometric([r["stages"][stage]["steps"] / base(r) for r in runs
                               if stage in r["stages"]
                               and not (capped and r["stages"][stage]["steps"] >= r[capped])])[0]

        full = [r for r in runs if set(r["stages"]) == set(COST_STAGES)]
        model = cls(
            cost=cost,
            slurry_checks=factor("slurry", lambda r: r["check_steps"], "slurry_max_steps"),
            drying_factor=factor("drying", lambda r: r["drying_pass_steps"]),
            pressing_factor=factor("pressing", lambda r: r["pressing_pass_steps"]),
            release_checks=factor("release", lambda r: r["degrees"] * r["relax_check_steps"]),
            error_factor=1.0, runs=len(full),
            beads_range=(min(r["beads"] for r in full), max(r["beads"] for r in full)),
            ranks_range=(min(r["ranks"] for r in full), max(r["ranks"] for r in full)))
        ratios = []
        for r in full:
            bases = Bases(**{f.name: r["estimated_beads" if f.name == "beads" else f.name]
                             for f in dataclasses.fields(Bases)})
            measured = sum(r["ranks"] * s["wall_s"] for s in r["stages"].values()) / 3600
            ratios.append(model.predict(bases).total / measured)
        return dataclasses.replace(model, error_factor=_geometric(ratios)[1])

    def _steps(self, b: Bases, at_caps: bool = False) -> dict[str, int]:
        pressing = round(self.pressing_factor * b.pressing_pass_steps)
        if at_caps:
            # The plane's way back up in a release is at most its way down.
            return {"slurry": b.slurry_max_steps, "drying": b.drying_max_steps,
                    "pressing": pressing, "release": b.degrees * b.relax_max_steps + pressing}
        return {
            "slurry": min(b.slurry_max_steps, round(self.slurry_checks * b.check_steps)),
            "drying": min(b.drying_max_steps, round(self.drying_factor * b.drying_pass_steps)),
            "pressing": pressing,
            "release": b.degrees * min(b.relax_max_steps,
                                       round(self.release_checks * b.relax_check_steps)),
        }

    def _core_hours(self, b: Bases, steps: dict[str, int]) -> dict[str, float]:
        return {s: b.beads * n * self.cost[s] / 3600 for s, n in steps.items()}

    def predict(self, bases: Bases) -> Cost:
        """The cost of one realisation with these bases."""
        steps = self._steps(bases)
        return Cost(steps=steps, core_hours=self._core_hours(bases, steps),
                    error_factor=self.error_factor,
                    at_caps=sum(self._core_hours(bases, self._steps(bases, True)).values()))

    def describe(self) -> str:
        """What the model rests on, in one line."""
        return (f"calibrated on {self.runs} measured realisations of {self.beads_range[0]:,}-"
                f"{self.beads_range[1]:,} beads on {self.ranks_range[0]}-{self.ranks_range[1]} "
                f"ranks (ensemble/cost_model.toml); LAMMPS stages only, parallel efficiency "
                f"beyond {self.ranks_range[1]} ranks not modelled")


def estimate_cost(spec: Spec, work: Workload | None = None) -> Cost:
    """Core-hours of one realisation of ``spec`` (:class:`Cost`), from :data:`COST_MODEL`."""
    return CostModel.load().predict(Bases.of(spec, work or estimate(spec)))
