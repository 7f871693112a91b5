"""Force-field parameter files (TOML, with units and sources) and the LAMMPS commands they give.

A parameter file holds, per material, the elastic constants of the JKR contact, the contact's
surface energy, damping and friction, and the Lennard-Jones well; plus the stiffness of the
bonds that hold the primaries of one secondary particle together. Values are checked before
LAMMPS starts, and the timestep is bounded by the Rayleigh time of the stiffest contact.

LAMMPS ``units micro``: length µm, mass pg, time µs, energy fJ (1e-15 J), force nN,
pressure 1e3 Pa (so 1 GPa = 1e6), surface energy fJ/µm² = 1e-3 J/m², stiffness nN/µm = 1e-3 N/m.
"""

from __future__ import annotations

import codecs
import dataclasses
import math
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mesosweep.errors import ForceFieldError

SCHEMA_VERSION = 1
PARTICLE_MATERIALS = ("am", "cbd")
WALL_MATERIALS = ("collector", "roll")
MATERIALS = PARTICLE_MATERIALS + WALL_MATERIALS

GPA_TO_MICRO = 1.0e6  # 1 GPa in LAMMPS micro pressure units (1e3 Pa)
J_M2_TO_MICRO = 1.0e3  # 1 J/m² in fJ/µm²
N_M_TO_MICRO = 1.0e3  # 1 N/m in nN/µm
PA_TO_MICRO = 1.0e-3  # 1 Pa in micro pressure units
MAX_BRIDGES_PER_BEAD = 12  # binder bridges one CBD bead can form: the kissing number of spheres


@dataclass(frozen=True)
class Material:
    """Elastic constants of one material."""

    youngs_modulus_GPa: float
    poisson_ratio: float
    source: str


@dataclass(frozen=True)
class Contact:
    """JKR contact of one material (mixed between materials by LAMMPS)."""

    surface_energy_J_m2: float
    normal_damping_per_us_um: float
    friction: float
    source: str


@dataclass(frozen=True)
class LennardJones:
    """Lennard-Jones well of one material."""

    epsilon_fJ: float
    sigma_um: float
    cutoff_um: float
    source: str


@dataclass(frozen=True)
class Calendering:
    """How a pressed film keeps its compaction (optional ``[calendering]`` table; absent: the
    film is elastic and springs back). docs/physics.md, "Calendering that stays pressed".

    - ``dwell_us``: the plane holds at its stop this long (µs) before it rises.
    - ``cbd_compaction``: the CBD beads' volume falls by this fraction of the compression
      degree as the plane goes down (1: the CBD compacts as much as the film), never below
      ``1 - cbd_nanoporosity`` of its dried volume (its 50 % nanopores squeezed out).
    - ``bridge_stiffness_N_m``: > 0 welds every CBD-CBD and CBD-AM contact into a binder
      bridge (a spring at its pressed length) when the plane stops; 0: no bridges.
    - ``release_cbd_surface_energy_J_m2``: the CBD's JKR surface energy from the release on
      (None: unchanged).
    """

    dwell_us: float = 0.0
    cbd_compaction: float = 0.0
    cbd_nanoporosity: float = 0.5
    bridge_stiffness_N_m: float = 0.0
    release_cbd_surface_energy_J_m2: float | None = None
    source: str = "none: elastic calendering"

    @property
    def bridges(self) -> bool:
        return self.bridge_stiffness_N_m > 0.0


@dataclass(frozen=True)
class ForceField:
    """One parameter set (slurry or dried)."""

    name: str
    description: str
    path: Path
    materials: dict[str, Material]
    contact: dict[str, Contact]
    lj: dict[str, LennardJones]
    bond_stiffness_N_m: float
    langevin_damping_us: float
    barostat_damping_us: float | None  # slurry sets only (NPT); see :func:`barostat`
    barostat_modulus_GPa: float | None
    calendering: Calendering = Calendering()


def _number(table: dict, key: str, where: str, *, low: float | None = None,
            high: float | None = None, low_open: bool = False, high_open: bool = False,
            why: str = "") -> float:
    if key not in table:
        raise ForceFieldError(f"{where}.{key}: missing; add it with its unit and source")
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ForceFieldError(f"{where}.{key} = {value!r}: must be a finite number")
    because = f" ({why})" if why else ""
    if low is not None and (value < low or (low_open and value == low)):
        raise ForceFieldError(
            f"{where}.{key} = {value!r}: must be {'>' if low_open else '>='} {low}{because}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ForceFieldError(
            f"{where}.{key} = {value!r}: must be {'<' if high_open else '<='} {high}{because}")
    return float(value)


# What a contact model can represent, with the reason. Beyond these the timestep bound, the
# contact forces or the step counts leave floating point (a timestep of 0, an infinite count).
MODULUS_GPA = (1e-6, 2000.0, "from softer than a gel (1 kPa) to stiffer than diamond (1220 GPa)")
SURFACE_ENERGY_J_M2 = (0.0, 10.0, "surface energies of solids lie below a few J/m^2")
DAMPING_PER_US_UM = (0.0, 1e3, "2000 times the shipped sets' 0.5")
FRICTION = (0.0, 10.0, "friction coefficients of solids lie below about 1.5")
EPSILON_FJ = (0.0, 1e8, "some 3000 times the deepest shipped well, 35 000 fJ")
LENGTH_UM = (0.0, 100.0, "beads and their interactions are under 100 um")
BOND_STIFFNESS_N_M = (0.0, 1e7, "20 000 times the shipped bonds, 500 N/m")
DAMPING_TIME_US = (0.0, 1e6, "1 s; a longer damping time never brings a stage to rest")


def _bounded(table: dict, key: str, where: str, bounds: tuple[float, float, str], *,
             positive: bool = True) -> float:
    """A number in ``bounds`` (low, high, why); ``positive``: the low end is excluded."""
    low, high, why = bounds
    return _number(table, key, where, low=low, high=high, low_open=positive, why=why)


def _optional(table: dict, key: str, where: str, bounds: tuple[float, float, str]
              ) -> float | None:
    """A positive number that only some sets need (absent: None)."""
    return _bounded(table, key, where, bounds) if key in table else None


def barostat(ff: ForceField) -> tuple[float, float]:
    """The Berendsen barostat's damping time (µs) and modulus (GPa) of a slurry set."""
    if ff.barostat_damping_us is None or ff.barostat_modulus_GPa is None:
        raise ForceFieldError(f"{ff.path}: dynamics.barostat_damping_us and "
                              "dynamics.barostat_modulus_GPa: the slurry's NPT barostat needs "
                              "both; add them with a source, or use a slurry set")
    return ff.barostat_damping_us, ff.barostat_modulus_GPa


def _section(data: dict, key: str, where: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ForceFieldError(f"{where}: missing section [{key}]")
    return value


def _source(table: dict, where: str) -> str:
    source = table.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ForceFieldError(f"{where}.source: missing; say where the values come from")
    return source


def load_forcefield(path: str | Path) -> ForceField:
    """Read and check a parameter file; raise :class:`ForceFieldError` naming file and field.

    A file may start from another one beside it (``base = "slurry"``) and set only what differs;
    every table it changes gives its own ``source``.
    """
    path = Path(path)
    try:
        return _parse(_with_base(_read_toml(path), path, frozenset()), path)
    except ForceFieldError as exc:
        raise ForceFieldError(f"{path}: {exc}") from None


# A parameter set is a few KiB of TOML; anything far larger is a wrong file.
MAX_FILE_BYTES = 1024 * 1024


def _read_toml(path: Path) -> dict:
    try:
        # stat first: a FIFO would block the read, a device never end it.
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise ForceFieldError("is a folder, not a force-field file; name a .toml file")
        if not stat.S_ISREG(mode):
            raise ForceFieldError("is not a regular file (a device, FIFO or socket)")
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as exc:
        raise ForceFieldError("force-field file not found") from exc
    except OSError as exc:
        raise ForceFieldError(f"cannot read the force-field file ({exc.strerror or exc})") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ForceFieldError(f"larger than {MAX_FILE_BYTES // 1024} KiB; a parameter set is a "
                              "few KiB of TOML")
    try:
        return tomllib.loads(raw.removeprefix(codecs.BOM_UTF8).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ForceFieldError(f"not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ForceFieldError(f"not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ForceFieldError("arrays or tables nested too deeply to read") from exc


_BASE_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _with_base(data: dict, path: Path, seen: frozenset[Path]) -> dict:
    """``data`` laid over the file its ``base`` names, recursively."""
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not _BASE_NAME.fullmatch(base):
        raise ForceFieldError(f"base = {base!r}: name a parameter file in the same folder, "
                              "without .toml (letters, digits, '-' and '_')")
    base_path = path.with_name(f"{base}.toml")
    if base_path in seen | {path}:
        raise ForceFieldError(f"base = {base!r}: the files name each other as base in a loop")
    try:
        parent = _with_base(_read_toml(base_path), base_path, seen | {path})
    except ForceFieldError as exc:
        raise ForceFieldError(f"base = {base!r} ({base_path}): {exc}") from None
    parent.pop("name", None)  # a set is named by its own file, never by its base's
    return _overlay(parent, data, "")


def _overlay(base: dict, over: dict, where: str) -> dict:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            table = f"{where}{key}"
            changes_values = any(not isinstance(v, dict) for k, v in value.items() if k != "source")
            if changes_values and "source" not in value:
                raise ForceFieldError(f"{table}: changes values of its base, so it needs its own "
                                      "source saying where the new values come from")
            merged[key] = _overlay(base[key], value, f"{table}.")
        else:
            merged[key] = value
    return merged


def _parse(data: dict, path: Path) -> ForceField:
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ForceFieldError(
            f"schema_version = {data.get('schema_version')!r}: expected {SCHEMA_VERSION}")
    materials, contact, lj = {}, {}, {}
    mat_sec = _section(data, "materials", "")
    con_sec = _section(data, "contact", "")
    lj_sec = _section(data, "lj", "")
    for name in MATERIALS:
        where = f"materials.{name}"
        table = _section(mat_sec, name, where)
        materials[name] = Material(
            _bounded(table, "youngs_modulus_GPa", where, MODULUS_GPA, positive=False),
            # Poisson ratio of an isotropic elastic solid lies in (-1, 0.5).
            _number(table, "poisson_ratio", where, low=-1.0, high=0.5, low_open=True,
                    high_open=True),
            _source(table, where),
        )
        where = f"contact.{name}"
        table = _section(con_sec, name, where)
        contact[name] = Contact(
            _bounded(table, "surface_energy_J_m2", where, SURFACE_ENERGY_J_M2, positive=False),
            _bounded(table, "normal_damping_per_us_um", where, DAMPING_PER_US_UM,
                     positive=False),
            _bounded(table, "friction", where, FRICTION, positive=False),
            _source(table, where),
        )
    for name in PARTICLE_MATERIALS:
        where = f"lj.{name}"
        table = _section(lj_sec, name, where)
        sigma = _bounded(table, "sigma_um", where, LENGTH_UM)
        lj[name] = LennardJones(
            _bounded(table, "epsilon_fJ", where, EPSILON_FJ, positive=False),
            sigma,
            _number(table, "cutoff_um", where, low=sigma, low_open=True, high=LENGTH_UM[1],
                    why=LENGTH_UM[2]),
            _source(table, where),
        )
    calendering = _calendering(data.get("calendering"))
    intra = _section(data, "intra", "")
    _source(intra, "intra")
    dynamics = _section(data, "dynamics", "")
    _source(dynamics, "dynamics")
    return ForceField(
        name=str(data.get("name", path.stem)),
        description=str(data.get("description", "")),
        path=path,
        materials=materials,
        contact=contact,
        lj=lj,
        bond_stiffness_N_m=_bounded(intra, "bond_stiffness_N_m", "intra", BOND_STIFFNESS_N_M),
        langevin_damping_us=_bounded(dynamics, "langevin_damping_us", "dynamics",
                                     DAMPING_TIME_US),
        barostat_damping_us=_optional(dynamics, "barostat_damping_us", "dynamics",
                                      DAMPING_TIME_US),
        barostat_modulus_GPa=_optional(dynamics, "barostat_modulus_GPa", "dynamics",
                                       MODULUS_GPA),
        calendering=calendering,
    )


def _calendering(table: dict | None) -> Calendering:
    """The optional ``[calendering]`` table; every key optional, defaults of
    :class:`Calendering`."""
    if table is None:
        return Calendering()
    if not isinstance(table, dict):
        raise ForceFieldError("calendering: must be a table")
    where = "calendering"
    known = {"dwell_us", "cbd_compaction", "cbd_nanoporosity", "bridge_stiffness_N_m",
             "release_cbd_surface_energy_J_m2", "source"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ForceFieldError(f"{where}: unknown key(s) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(known))}")
    default = Calendering()

    def get(key: str, **bounds) -> float:
        return _number(table, key, where, **bounds) if key in table else getattr(default, key)

    return Calendering(
        dwell_us=get("dwell_us", low=0.0),
        cbd_compaction=get("cbd_compaction", low=0.0),
        # A nanoporosity of 1 would let the CBD vanish.
        cbd_nanoporosity=get("cbd_nanoporosity", low=0.0, high=1.0, high_open=True),
        bridge_stiffness_N_m=get("bridge_stiffness_N_m", low=0.0),
        release_cbd_surface_energy_J_m2=(
            _number(table, "release_cbd_surface_energy_J_m2", where, low=0.0)
            if "release_cbd_surface_energy_J_m2" in table else None),
        source=_source(table, where),
    )


def shipped_forcefield(name: str) -> Path:
    """Path of a parameter set shipped in ``stages/params``."""
    return Path(__file__).parent / "params" / f"{name}.toml"


def rayleigh_time_us(material: Material, diameter_um: float, density_g_cm3: float) -> float:
    """Rayleigh time (µs) of a bead: the period of the fastest surface wave it carries.

    DEM timesteps are stable at a fraction (0.1–0.3) of it; it bounds Hertz/JKR contacts
    independently of the overlap.
    """
    nu = material.poisson_ratio
    shear_pa = material.youngs_modulus_GPa * 1e9 / (2.0 * (1.0 + nu))
    radius_m = 0.5 * diameter_um * 1e-6
    seconds = (math.pi * radius_m * math.sqrt(density_g_cm3 * 1e3 / shear_pa)
               / (0.1631 * nu + 0.8766))
    return seconds * 1e6


def bond_period_us(ff: ForceField, bead_mass_pg: float, bonds_per_bead: int = 1,
                   stiffness_N_m: float | None = None) -> float:
    """Shortest oscillation period (µs) of a bead held by ``bonds_per_bead`` intra-particle bonds
    (or bonds of ``stiffness_N_m``, N/m).

    Gershgorin's bound on the bead lattice's highest mode, ω² ≤ 2·n·k/m for n bonds of stiffness
    k; one bond (n = 1) is the exact period of two equal beads, 2π·√(m/2k). A primary inside a
    secondary carries up to 18 (6 face and 12 edge neighbours), which shortens it by √18.
    """
    k = (ff.bond_stiffness_N_m if stiffness_N_m is None else stiffness_N_m) * N_M_TO_MICRO
    return 2.0 * math.pi * math.sqrt(bead_mass_pg / (2.0 * max(bonds_per_bead, 1) * k))


def stable_timestep_us(ff: ForceField, beads: dict[str, tuple[float, float]],
                       bonds_per_bead: int = 1) -> float:
    """Upper bound on the timestep (µs): the shortest of the beads' Rayleigh times and bond periods.

    ``beads`` maps a particle material to its (smallest diameter µm, density g/cm³);
    ``bonds_per_bead`` is the most bonds any AM primary carries.
    """
    bounds = []
    for name, (diameter, density) in beads.items():
        bounds.append(rayleigh_time_us(ff.materials[name], diameter, density))
        mass = density * math.pi / 6.0 * diameter**3
        if name == "am":
            # Resolving a bond's period needs ~10 steps where the Rayleigh time needs ~5.
            bounds.append(0.5 * bond_period_us(ff, mass, bonds_per_bead))
        if name == "cbd" and ff.calendering.bridges:
            # A CBD bead may be bridged to every bead it touches: at most 12 (the kissing
            # number of equal spheres; larger AM neighbours leave room for fewer).
            bounds.append(0.5 * bond_period_us(ff, mass, MAX_BRIDGES_PER_BEAD,
                                               ff.calendering.bridge_stiffness_N_m))
    return min(bounds)


def check_timestep(ff: ForceField, timestep_us: float, beads: dict[str, tuple[float, float]],
                   max_fraction: float = 0.3, bonds_per_bead: int = 1) -> None:
    """Refuse a timestep above ``max_fraction`` of the stability bound, before LAMMPS starts."""
    bound = stable_timestep_us(ff, beads, bonds_per_bead)
    if not timestep_us > 0 or timestep_us > max_fraction * bound:
        raise ForceFieldError(
            f"{ff.path}: timestep {timestep_us:.3g} us exceeds {max_fraction} x the stability "
            f"bound {bound:.3g} us of the stiffest contact or bond; lower "
            "numerics.timestep_fraction"
        )


def _jkr(ff: ForceField, name: str) -> str:
    mat, con = ff.materials[name], ff.contact[name]
    return (
        f"jkr {mat.youngs_modulus_GPa * GPA_TO_MICRO:.6g} {con.normal_damping_per_us_um:.6g} "
        f"{mat.poisson_ratio:.6g} {con.surface_energy_J_m2 * J_M2_TO_MICRO:.6g} "
        f"tangential mindlin NULL 1.0 {con.friction:.6g} damping viscoelastic"
    )


def lj_pair(ff: ForceField, a: str, b: str) -> tuple[float, float, float]:
    """LJ (epsilon fJ, sigma µm, cutoff µm) between materials a and b with the paper's mixing
    rule."""
    la, lb = ff.lj[a], ff.lj[b]
    if a == b:
        return la.epsilon_fJ, la.sigma_um, la.cutoff_um
    return (0.8 * (la.epsilon_fJ + lb.epsilon_fJ), 0.5 * (la.sigma_um + lb.sigma_um),
            0.5 * (la.cutoff_um + lb.cutoff_um))


def pair_commands(ff: ForceField, type_material: dict[int, str]) -> list[str]:
    """``pair_style``/``pair_coeff``/bond commands for atom types mapped to particle materials."""
    max_cut = max(ff.lj[m].cutoff_um for m in set(type_material.values()))
    cmds = [f"pair_style hybrid/overlay granular lj/cut {max_cut:.6g}"]
    types = sorted(type_material)
    for t in types:
        cmds.append(f"pair_coeff {t} {t} granular {_jkr(ff, type_material[t])}")
    for i in types:
        for j in types:
            if j < i:
                continue
            eps, sigma, cut = lj_pair(ff, type_material[i], type_material[j])
            cmds.append(f"pair_coeff {i} {j} lj/cut {eps:.6g} {sigma:.6g} {cut:.6g}")
    return cmds


def release_forcefield(ff: ForceField) -> ForceField:
    """The set a calendered film is released with: ``ff`` with the CBD's surface energy of
    ``calendering.release_cbd_surface_energy_J_m2`` when that is given."""
    gamma = ff.calendering.release_cbd_surface_energy_J_m2
    if gamma is None:
        return ff
    contact = dict(ff.contact)
    contact["cbd"] = dataclasses.replace(contact["cbd"], surface_energy_J_m2=gamma)
    return dataclasses.replace(ff, contact=contact)


def wall_model(ff: ForceField, wall: str) -> str:
    """The granular model arguments of a ``fix wall/gran`` of material ``wall``."""
    return _jkr(ff, wall)
