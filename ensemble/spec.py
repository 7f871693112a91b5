"""Sweep specification: the TOML schema, its full validation, and its canonical form.

A sweep spec is read once, checked completely, and turned into frozen dataclasses. Every later
step (plan, store, provenance, resume) works from a :class:`Spec`, never from raw TOML, so a
problem in the file is reported before any simulation starts. The schema, units, defaults and
allowed ranges are documented in ``docs/spec.md``; ``sweeps/quick.toml`` is the worked example.

Public API: :func:`load_spec`, :func:`parse_spec`, :func:`spec_to_dict`, :func:`canonical_json`,
:func:`spec_hash`, :func:`is_mesosweep_store`, :func:`resolve_forcefield`,
:func:`check_forcefields`, :class:`SpecError`
and the section dataclasses.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib.util
import json
import math
import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesosweep.errors import SpecError

__all__ = [
    "SCHEMA_VERSION",
    "SEED_MIN",
    "SEED_MAX",
    "MAX_COMPRESSION_DEGREE",
    "SpecError",
    "Spec",
    "SweepSection",
    "ClusterSection",
    "ParticlesSection",
    "StructureSection",
    "Formulation",
    "ProcessSection",
    "NumericsSection",
    "AnalysisSection",
    "load_spec",
    "parse_spec",
    "spec_to_dict",
    "canonical_json",
    "spec_hash",
    "is_mesosweep_store",
    "resolve_forcefield",
    "check_forcefields",
]

SCHEMA_VERSION = 1
# LAMMPS accepts random seeds in 1 .. 900 000 000 only.
SEED_MIN = 1
SEED_MAX = 900_000_000
# Beyond this the compression plane would crush the electrode into the current collector.
MAX_COMPRESSION_DEGREE = 0.9
MASS_SUM_TOLERANCE = 1e-6

CLUSTER_KINDS = ("local", "slurm", "pbs", "lsf", "sge")
PARTICLE_SOURCES = ("synthetic", "database")
STRUCTURE_SHAPES = ("real", "sphere")
CBD_AS = ("solid", "pore")
PSD_SAMPLINGS = ("independent", "stratified")  # mirrors stages.structure.PSD_SAMPLINGS

# Names become directory names and store labels: letters, digits, '.', '_', '-' only, never
# starting with a dot or dash. Always used with fullmatch ('$' would let a trailing newline in).
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NAME_RULE = "1-64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"
_FORCEFIELD_NAME_RE = re.compile(r"[a-z0-9_-]+")
_WALLTIME_RE = re.compile(r"(\d+):([0-5]\d):([0-5]\d)")
_MEMORY_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B)", re.IGNORECASE)
# Queue and account names go into batch-script directives: no spaces, quotes or shell syntax.
_BATCH_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+,:-]{0,127}")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")


# --------------------------------------------------------------------------------------------
# The schema as frozen dataclasses (kw_only so the field order can mirror the file).


@dataclass(frozen=True, kw_only=True)
class SweepSection:
    """[sweep]: what is run and where the results go."""

    name: str
    root_seed: int
    realisations: int
    output: Path  # absolute; a relative path in the file is taken from the current directory


@dataclass(frozen=True, kw_only=True)
class ClusterSection:
    """[cluster]: where Dask gets workers. Batch fields are used by slurm/pbs, ignored by local."""

    kind: str = "local"
    workers: int = 1
    ranks_per_realisation: int = 1
    queue: str | None = None
    account: str | None = None
    walltime: str = "01:00:00"
    memory: str = "4GB"
    job_extra_directives: tuple[str, ...] = ()
    max_attempts: int = 2
    adaptive: bool = False
    scheduler_host: str | None = None


@dataclass(frozen=True, kw_only=True)
class ParticlesSection:
    """[particles]: the particle database, built from XCT or by the synthetic generator."""

    source: str = "synthetic"
    voxel_size_um: float = 0.642
    count: int = 200
    diameter_range_um: tuple[float, float] = (2.0, 14.0)
    min_voxels: int = 27
    database: Path | None = None  # absolute; a relative path is taken from the spec's folder


@dataclass(frozen=True, kw_only=True)
class StructureSection:
    """[structure]: how a realisation's initial slurry box is built."""

    shape: str = "real"
    downsample: int = 2
    box_um: tuple[float, float, float] = (80.0, 80.0, 120.0)
    am_volume_fraction: float = 0.028
    cbd_diameter_slurry_um: float = 6.2
    cbd_diameter_dried_um: float = 1.3
    am_density_g_cm3: float = 4.68
    cbd_density_g_cm3: float = 0.95
    # Target number PSD: a CSV file (absolute; relative paths are taken from the spec's folder)
    # or inline rows of (diameter_um, number_fraction); None draws to the database's own PSD.
    psd_table: Path | tuple[tuple[float, float], ...] | None = None
    psd_sampling: str = "independent"  # or "stratified": a low-discrepancy draw of the target


@dataclass(frozen=True, kw_only=True)
class Formulation:
    """One [[formulations]] table: every field is required (no universal default exists)."""

    name: str
    am_mass_percent: float
    cbd_mass_percent: float
    solid_content_percent: float
    dried_porosity_percent: float


@dataclass(frozen=True, kw_only=True)
class ProcessSection:
    """[process]: manufacturing conditions shared by every formulation."""

    slurry_temperature_K: float = 300.0
    slurry_pressure_Pa: float = 1.0e5
    drying_temperature_K: float = 353.0
    calendering_temperature_K: float = 333.0
    compression_degrees: tuple[float, ...]  # required
    calendering_speed_um_per_us: float = 2.0


@dataclass(frozen=True, kw_only=True)
class NumericsSection:
    """[numerics]: force fields, time step and convergence of the LAMMPS stages.

    A force field is either a bare name of a shipped parameter set or the absolute path of a
    TOML file (relative paths in the file are resolved against the spec's folder).
    """

    forcefield_slurry: str = "slurry"
    forcefield_dried: str = "dried"
    timestep_fraction: float = 0.1
    check_steps: int = 1000
    slurry_max_steps: int = 1_000_000
    drying_max_steps: int = 1_000_000
    relax_max_steps: int = 200_000
    relax_check_steps: int | None = None  # None: check_steps
    tolerance: float = 0.001


@dataclass(frozen=True, kw_only=True)
class AnalysisSection:
    """[analysis]: how simulated states are voxelised and measured."""

    voxel_size_um: float = 0.25
    cbd_as: str = "pore"


@dataclass(frozen=True, kw_only=True)
class Spec:
    """A validated sweep spec. Build it with :func:`load_spec` or :func:`parse_spec`."""

    schema_version: int = SCHEMA_VERSION
    sweep: SweepSection
    cluster: ClusterSection = dataclasses.field(default_factory=ClusterSection)
    particles: ParticlesSection = dataclasses.field(default_factory=ParticlesSection)
    structure: StructureSection = dataclasses.field(default_factory=StructureSection)
    formulations: tuple[Formulation, ...]
    process: ProcessSection
    numerics: NumericsSection = dataclasses.field(default_factory=NumericsSection)
    analysis: AnalysisSection = dataclasses.field(default_factory=AnalysisSection)


# --------------------------------------------------------------------------------------------
# Value display and type helpers for messages


def _show(value: Any, limit: int = 80) -> str:
    """A value as the user would write it in TOML, short and on one line."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=True)
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(_show(v, limit) for v in value) + "]"
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(_key(str(k)) for k in value) + "}"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return "a " + type(value).__name__


def _key(key: str) -> str:
    """A key as it appears in a field path: bare if TOML allows, quoted otherwise."""
    return key if _BARE_KEY_RE.fullmatch(key) else json.dumps(key, ensure_ascii=True)


def _is_int(value: Any) -> bool:
    # bool is a subclass of int in Python, but `true` is never a count.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _interval(gt: float | None, ge: float | None, lt: float | None, le: float | None) -> str:
    lo = gt if gt is not None else ge
    hi = lt if lt is not None else le
    if lo is not None and hi is not None:
        left = "(" if gt is not None else "["
        right = ")" if lt is not None else "]"
        return f"in {left}{_num(lo)}, {_num(hi)}{right}"
    if lo is not None:
        return f"{'>' if gt is not None else '>='} {_num(lo)}"
    if hi is not None:
        return f"{'<' if lt is not None else '<='} {_num(hi)}"
    return "a finite number"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _in(x: float, gt: float | None, ge: float | None, lt: float | None, le: float | None) -> bool:
    return (
        (gt is None or x > gt)
        and (ge is None or x >= ge)
        and (lt is None or x < lt)
        and (le is None or x <= le)
    )


def _suggest(word: str, options: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower(), options, n=1, cutoff=0.6)
    return close[0] if close else None


# --------------------------------------------------------------------------------------------
# The reader: one per TOML table, it records every problem and the keys it knows


_REQUIRED = object()  # marks a required field
_BAD = object()  # marks a value that was missing or invalid (already reported)


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, text: str) -> None:
        self.lines.append(f"{path}: {text}")


class _Table:
    """Typed access to one table; every accessor reports its own problems and returns _BAD."""

    def __init__(self, problems: _Problems, path: str, data: Mapping[str, Any], where: str,
                 *, absent: bool = False) -> None:
        self.p = problems
        self.path = path
        self.data = data
        self.where = where  # how to tell the user where to add a key
        self.absent = absent  # the whole section is missing: one line instead of one per key
        self.known: list[str] = []
        self.missing: list[str] = []

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, default: Any, example: str) -> tuple[bool, Any]:
        """(True, value) if the key was given; else (False, default), or (False, _BAD)."""
        self.known.append(key)
        value = self.data.get(key)
        if value is not None:
            return True, value
        # Absent, or JSON null from spec_to_dict: the default applies.
        if default is not _REQUIRED:
            return False, default
        if self.absent:
            self.missing.append(f"{key} = {example}")
        else:
            self.p.add(self.at(key), f"required field is missing; add {key} = {example} "
                                     f"to {self.where}")
        return False, _BAD

    def _wrong_type(self, path: str, value: Any, expected: str) -> None:
        self.p.add(path, f"got {_show(value)} ({_kind(value)}); expected {expected}")

    def _check_number(self, path: str, value: Any, *, integer: bool, gt: float | None = None,
                      ge: float | None = None, lt: float | None = None, le: float | None = None,
                      why: str = "") -> Any:
        if integer and not _is_int(value):
            bounds = "" if (gt, ge, lt, le) == (None,) * 4 else " " + _interval(gt, ge, lt, le)
            self._wrong_type(path, value, "an integer" + bounds)
            return _BAD
        if not integer and not _is_number(value):
            self._wrong_type(path, value, "a number")
            return _BAD
        if not integer:
            value = float(value)  # an integer is fine where a number is expected
            if not math.isfinite(value):
                self.p.add(path, f"got {_show(value)}; must be a finite number "
                                 f"{_interval(gt, ge, lt, le)}")
                return _BAD
        if not _in(value, gt, ge, lt, le):
            self.p.add(path, f"got {_show(value)}; must be {_interval(gt, ge, lt, le)}"
                             + (f" ({why})" if why else ""))
            return _BAD
        return value

    def integer(self, key: str, default: Any = _REQUIRED, *, example: str = "1",
                ge: int | None = None, le: int | None = None, why: str = "") -> Any:
        given, value = self._get(key, default, example)
        if not given:
            return value
        return self._check_number(self.at(key), value, integer=True, ge=ge, le=le, why=why)

    def number(self, key: str, default: Any = _REQUIRED, *, example: str = "1.0",
               gt: float | None = None, ge: float | None = None, lt: float | None = None,
               le: float | None = None, why: str = "") -> Any:
        given, value = self._get(key, default, example)
        if not given:
            return value
        return self._check_number(self.at(key), value, integer=False, gt=gt, ge=ge, lt=lt, le=le,
                                  why=why)

    def numbers(self, key: str, default: Any = _REQUIRED, *, example: str = "[1.0]",
                length: int | None = None, gt: float | None = None, ge: float | None = None,
                lt: float | None = None, le: float | None = None, why: str = "",
                unique: bool = False) -> Any:
        """An array of numbers, each checked; returned as a tuple of floats.

        ``unique`` reports repeats among the valid values (they would be the same case twice).
        """
        given, value = self._get(key, default, example)
        if not given:
            return value
        path = self.at(key)
        if not isinstance(value, (list, tuple)):
            self._wrong_type(path, value, f"an array of numbers, e.g. {example}")
            return _BAD
        if length is not None and len(value) != length:
            self.p.add(path, f"got {_show(value)} ({len(value)} values); expected exactly "
                             f"{length} numbers, e.g. {key} = {example}")
            return _BAD
        if not value:
            self.p.add(path, f"got []; expected at least one number, e.g. {key} = {example}")
            return _BAD
        items = [self._check_number(f"{path}[{i}]", v, integer=False, gt=gt, ge=ge, lt=lt, le=le,
                                    why=why) for i, v in enumerate(value)]
        if unique:
            first: dict[float, int] = {}
            for i, v in enumerate(items):
                if v is _BAD:
                    continue
                if v in first:
                    self.p.add(f"{path}[{i}]", f"got {_show(v)}; duplicates {key}[{first[v]}]; "
                                               f"each value must appear once, remove the repeat")
                    items[i] = _BAD
                else:
                    first[v] = i
        return _BAD if any(v is _BAD for v in items) else tuple(items)

    def string(self, key: str, default: Any = _REQUIRED, *, example: str = '"x"') -> Any:
        given, value = self._get(key, default, example)
        if not given:
            return value
        if not isinstance(value, str):
            self._wrong_type(self.at(key), value, f"a string, e.g. {key} = {example}")
            return _BAD
        return value

    def boolean(self, key: str, default: Any = _REQUIRED) -> Any:
        given, value = self._get(key, default, "true")
        if given and not isinstance(value, bool):
            self._wrong_type(self.at(key), value, f"true or false, e.g. {key} = false")
            return _BAD
        return value

    def name(self, key: str, default: Any = _REQUIRED, *, example: str = '"x"',
             why: str = "") -> Any:
        """A string that becomes a directory name or store label."""
        value = self.string(key, default, example=example)
        if isinstance(value, str) and not _NAME_RE.fullmatch(value):
            self.p.add(self.at(key), f"got {_show(value)}; allowed: {_NAME_RULE}"
                                     + (f" ({why})" if why else ""))
            return _BAD
        return value

    def choice(self, key: str, options: Sequence[str], default: Any = _REQUIRED) -> Any:
        value = self.string(key, default, example=json.dumps(options[0]))
        if isinstance(value, str) and value not in options:
            hint = _suggest(value, options)
            allowed = ", ".join(json.dumps(o) for o in options)
            self.p.add(self.at(key), f"got {_show(value)}; allowed: {allowed}"
                                     + (f'; did you mean "{hint}"?' if hint else ""))
            return _BAD
        return value

    def strings(self, key: str, default: Any = _REQUIRED, *, example: str = '["x"]') -> Any:
        given, value = self._get(key, default, example)
        if not given:
            return value
        path = self.at(key)
        if not isinstance(value, (list, tuple)):
            self._wrong_type(path, value, f"an array of strings, e.g. {key} = {example}")
            return _BAD
        ok = True
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self._wrong_type(f"{path}[{i}]", item, "a string")
                ok = False
        return tuple(value) if ok else _BAD

    def table(self, key: str, where: str, *, required: bool = False) -> _Table | None:
        """A sub-table; a missing one reads as empty so defaults apply."""
        self.known.append(key)
        value = self.data.get(key)
        if value is None:
            return _Table(self.p, self.at(key), {}, where, absent=required)
        if not isinstance(value, Mapping):
            self._wrong_type(self.at(key), value, f"a table {where}")
            return None
        return _Table(self.p, self.at(key), value, where)

    def finish(self, section_word: str = "key") -> None:
        """Report a missing section (one line) and every key nobody asked for."""
        if self.missing:
            self.p.add(self.path, f"required section is missing; add {self.where} with "
                                  + ", ".join(self.missing))
        for raw in self.data:
            key = str(raw)
            if key in self.known:
                continue
            word = "section" if isinstance(self.data[raw], Mapping) else section_word
            hint = _suggest(key, self.known)
            if hint:
                text = f'unknown {word}; did you mean "{hint}"? Rename or remove it'
            else:
                text = f"unknown {word}; remove it (known here: {', '.join(self.known)})"
            self.p.add(self.at(_key(key)), text)


# --------------------------------------------------------------------------------------------
# Paths, stores and force fields


def is_mesosweep_store(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a directory holding a zarr.json whose attributes name mesosweep.

    Reads the JSON directly (no zarr import) and never raises: anything unreadable is "not a
    store", which is what protects unrelated data from being overwritten.
    """
    meta = Path(path) / "zarr.json"
    try:
        with meta.open("r", encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return False
    if not isinstance(doc, dict):
        return False
    attributes = doc.get("attributes")
    return isinstance(attributes, dict) and "mesosweep_version" in attributes


def _params_dir() -> Path:
    """The shipped parameter sets: ``stages/params`` beside the installed ``stages`` package.

    Found through the import system without importing ``stages``, so validating a spec never
    pulls in the physics (LAMMPS, MPI).
    """
    found = importlib.util.find_spec("mesosweep.stages")
    if found is None or not found.submodule_search_locations:
        raise SpecError("numerics: the stages package is not installed; reinstall mesosweep")
    return Path(list(found.submodule_search_locations)[0]) / "params"


def _looks_like_path(value: str) -> bool:
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(s in value for s in seps) or value.endswith(".toml") or value.startswith("~")


def _absolute(value: str, base_dir: Path) -> Path:
    """Expand ~ and anchor a relative path at base_dir; normalise without following links."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return Path(os.path.abspath(path))


def resolve_forcefield(name_or_path: str | os.PathLike[str], *, base_dir: Path | None = None,
                       field: str = "numerics.forcefield") -> Path:
    """The TOML file of a force field: a shipped set by bare name, or a path to a .toml file.

    Relative paths are taken from ``base_dir`` (default: the current directory). Raises
    :class:`SpecError` naming ``field`` if the file does not exist.
    """
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, str) and not _looks_like_path(text):
        if not _FORCEFIELD_NAME_RE.fullmatch(text):
            raise SpecError(f"{field}: got {_show(text)}; allowed: a shipped parameter set name "
                            f"(a-z 0-9 _ -) or a path to a .toml file")
        params = _params_dir()
        path = params / f"{text}.toml"
        if not path.is_file():
            shipped = sorted(p.stem for p in params.glob("*.toml")) if params.is_dir() else []
            hint = _suggest(text, shipped)
            raise SpecError(f"{field}: got {_show(text)}; no shipped parameter set of that name "
                            f"in {params} (shipped: {', '.join(shipped) or 'none'})"
                            + (f'; did you mean "{hint}"?' if hint else ""))
        return path
    path = _absolute(text, base_dir if base_dir is not None else Path.cwd())
    if path.suffix != ".toml" or not path.is_file():
        raise SpecError(f"{field}: got {_show(text)}; the force-field file {_show(str(path))} "
                        f"does not exist or is not a .toml file; give an existing .toml file "
                        f"or a shipped set name")
    return path


def _forcefield(t: _Table, key: str, default: str, base_dir: Path) -> Any:
    value = t.string(key, default, example=json.dumps(default))
    if not isinstance(value, str):
        return value
    if _looks_like_path(value):
        path = _absolute(value, base_dir)
        if path.suffix != ".toml" or not path.is_file():
            t.p.add(t.at(key), f"got {_show(value)}; the file {_show(str(path))} does not exist "
                               f"or is not a .toml file (relative paths are taken from the "
                               f"spec's folder); give an existing .toml file or a shipped set "
                               f"name such as {json.dumps(default)}")
            return _BAD
        return str(path)
    if not _FORCEFIELD_NAME_RE.fullmatch(value):
        t.p.add(t.at(key), f"got {_show(value)}; allowed: the name of a shipped parameter set "
                           f"(lower-case a-z 0-9 _ -, e.g. {json.dumps(default)}) or a path to "
                           f"an existing .toml file")
        return _BAD
    return value


# --------------------------------------------------------------------------------------------
# Sections


def _sweep(t: _Table) -> Any:
    name = t.name("name", example='"my-sweep"', why="it names the store and work directories")
    seed = t.integer("root_seed", example="12345", ge=SEED_MIN, le=SEED_MAX,
                     why="LAMMPS seed range")
    realisations = t.integer("realisations", example="3", ge=1)
    output = t.string("output", example='"my-sweep.zarr"')
    if isinstance(output, str):
        output = _output(t, output)
    t.finish()
    values = (name, seed, realisations, output)
    if any(v is _BAD for v in values):
        return _BAD
    return SweepSection(name=name, root_seed=seed, realisations=realisations, output=output)


def _output(t: _Table, value: str) -> Any:
    if not value.strip():
        t.p.add(t.at("output"), 'got ""; expected the path of the results store, '
                                'e.g. output = "my-sweep.zarr"')
        return _BAD
    # The quick start runs from anywhere: results land where the user is, not beside the spec.
    path = _absolute(value, Path.cwd())
    if (path.exists() or path.is_symlink()) and not is_mesosweep_store(path):
        t.p.add(t.at("output"), f"got {_show(value)}; {_show(str(path))} exists and is not a "
                                f"mesosweep store (no zarr.json with attributes."
                                f"mesosweep_version); choose another output or remove it")
        return _BAD
    return path


def _batch_name(t: _Table, key: str, example: str) -> Any:
    """Queue and account names end up in batch-script directives: keep them to plain words."""
    value = t.string(key, None, example=example)
    if isinstance(value, str) and not _BATCH_NAME_RE.fullmatch(value):
        t.p.add(t.at(key), f"got {_show(value)}; allowed: 1-128 characters from A-Z a-z 0-9 "
                           f". _ @ + , : -, starting with a letter or digit, e.g. {key} = "
                           f"{example}")
        return _BAD
    return value


def _cluster(t: _Table) -> Any:
    d = ClusterSection()
    kind = t.choice("kind", CLUSTER_KINDS, d.kind)
    workers = t.integer("workers", d.workers, ge=1)
    ranks = t.integer("ranks_per_realisation", d.ranks_per_realisation, ge=1)
    queue = _batch_name(t, "queue", '"compute"')
    account = _batch_name(t, "account", '"my-project"')
    walltime = t.string("walltime", d.walltime, example='"01:00:00"')
    if isinstance(walltime, str):
        m = _WALLTIME_RE.fullmatch(walltime)
        if not m or not any(int(g) for g in m.groups()):
            t.p.add(t.at("walltime"), f'got {_show(walltime)}; expected a non-zero duration '
                                      f'"HH:MM:SS" with minutes and seconds 00-59, '
                                      f'e.g. "12:00:00"')
            walltime = _BAD
    memory = t.string("memory", d.memory, example='"4GB"')
    if isinstance(memory, str):
        m = _MEMORY_RE.fullmatch(memory)
        if not m or float(m.group(1)) <= 0:
            t.p.add(t.at("memory"), f'got {_show(memory)}; expected a positive amount with a '
                                    f'unit KB MB GB TB (or KiB MiB GiB TiB), e.g. "4GB"')
            memory = _BAD
    extra = t.strings("job_extra_directives", d.job_extra_directives,
                      example='["--exclusive"]')
    if isinstance(extra, tuple):
        for i, directive in enumerate(extra):
            # Each one becomes a line of the batch script: one option, nothing else.
            # sbatch and qsub split a directive at white space: one option, one token.
            if not directive.startswith("-") or any(
                    unicodedata.category(c) == "Cc" or c.isspace() for c in directive):
                t.p.add(f"{t.at('job_extra_directives')}[{i}]",
                        f"got {_show(directive)}; expected one scheduler option starting with "
                        f"'-', without spaces, e.g. \"--exclusive\" or \"--constraint=a100\"")
                extra = _BAD
    max_attempts = t.integer("max_attempts", d.max_attempts, ge=1)
    adaptive = t.boolean("adaptive", d.adaptive)
    # The address batch-job workers reach the scheduler at; it goes into their command line.
    scheduler_host = _batch_name(t, "scheduler_host", '"login1"')
    if kind == "local" and _is_int(ranks):
        cores = os.cpu_count()
        if cores is not None and ranks > cores:
            t.p.add(t.at("ranks_per_realisation"),
                    f"got {ranks}; this machine has {cores} cores, so a local run allows at "
                    f"most {cores}; lower it or use a slurm/pbs cluster")
            ranks = _BAD
    t.finish()
    values = (kind, workers, ranks, queue, account, walltime, memory, extra, max_attempts,
              adaptive, scheduler_host)
    if any(v is _BAD for v in values):
        return _BAD
    return ClusterSection(kind=kind, workers=workers, ranks_per_realisation=ranks, queue=queue,
                          account=account, walltime=walltime, memory=memory,
                          job_extra_directives=extra, max_attempts=max_attempts,
                          adaptive=adaptive, scheduler_host=scheduler_host)


def _particles(t: _Table, base_dir: Path) -> Any:
    d = ParticlesSection()
    source = t.choice("source", PARTICLE_SOURCES, d.source)
    voxel = t.number("voxel_size_um", d.voxel_size_um, gt=0)
    count = t.integer("count", d.count, ge=1)
    drange = t.numbers("diameter_range_um", d.diameter_range_um, example="[2.0, 14.0]",
                       length=2, gt=0)
    if isinstance(drange, tuple) and drange[0] > drange[1]:
        t.p.add(t.at("diameter_range_um"), f"got {_show(list(drange))}; expected [smallest, "
                                           f"largest] with smallest <= largest; swap them")
        drange = _BAD
    min_voxels = t.integer("min_voxels", d.min_voxels, ge=1)
    database = t.string("database", None, example='"particles.db"')
    if isinstance(database, str):
        if source == "synthetic":
            t.p.add(t.at("database"), f'got {_show(database)} but particles.source is '
                                      f'"synthetic", which ignores it; set source = "database" '
                                      f'or remove database')
            database = _BAD
        elif not database.strip():
            t.p.add(t.at("database"), 'got ""; expected the path of the particle database')
            database = _BAD
        else:
            path = _absolute(database, base_dir)
            if not path.exists():
                t.p.add(t.at("database"), f"got {_show(database)}; {_show(str(path))} does not "
                                          f"exist (relative paths are taken from the spec's "
                                          f"folder); build the database first or fix the path")
                database = _BAD
            else:
                database = path
    elif database is None and source == "database":
        t.p.add(t.at("database"), 'required when particles.source = "database"; add database = '
                                  '"<path to the particle database>" to [particles]')
        database = _BAD
    t.finish()
    values = (source, voxel, count, drange, min_voxels, database)
    if any(v is _BAD for v in values):
        return _BAD
    return ParticlesSection(source=source, voxel_size_um=voxel, count=count,
                            diameter_range_um=drange, min_voxels=min_voxels, database=database)


def _psd_table(t: _Table, base_dir: Path) -> Any:
    """structure.psd_table: a CSV path or inline [[diameter_um, number_fraction], ...] rows."""
    t.known.append("psd_table")
    value = t.data.get("psd_table")
    path_text = t.at("psd_table")
    example = '"psd.csv" or [[4.0, 0.5], [8.0, 0.5]]'
    if value is None:
        return None
    # Imported here: only specs that name a PSD table need the parser.
    from mesosweep.stages.psd import parse_psd_rows, read_psd_table  # noqa: PLC0415

    if isinstance(value, str):
        if not value.strip():
            t.p.add(path_text, f'got ""; expected the path of a CSV file, e.g. psd_table = {example}')
            return _BAD
        path = _absolute(value, base_dir)
        try:
            read_psd_table(path)
        except FileNotFoundError:
            t.p.add(path_text, f"got {_show(value)}; {_show(str(path))} does not exist or is not "
                               f"a file (relative paths are taken from the spec's folder); fix "
                               f"the path")
            return _BAD
        except ValueError as exc:
            t.p.add(path_text, f"got {_show(value)}; {exc}")
            return _BAD
        return path
    if isinstance(value, (list, tuple)):
        typed = True
        for i, row in enumerate(value):
            # TOML has real numbers: a quoted "2.5" is a mistake here, unlike in a CSV cell
            if not (isinstance(row, (list, tuple)) and len(row) == 2
                    and all(_is_number(x) for x in row)):
                t._wrong_type(f"{path_text}[{i}]", row, "[diameter_um, number_fraction], two "
                                                        "numbers, e.g. [4.0, 0.25]")
                typed = False
        if not typed:
            return _BAD
        try:
            parse_psd_rows(value, labels=[f"{path_text}[{i}]" for i in range(len(value))])
        except ValueError as exc:
            message = str(exc)
            if message.startswith(path_text + "["):
                t.p.lines.append(message)  # a row's problem already starts with its field path
            else:
                t.p.add(path_text, message)
            return _BAD
        return tuple((float(row[0]), float(row[1])) for row in value)
    t._wrong_type(path_text, value, f"a CSV path or an array of [diameter_um, number_fraction] "
                                    f"rows, e.g. psd_table = {example}")
    return _BAD


def _structure(t: _Table, base_dir: Path) -> Any:
    d = StructureSection()
    shape = t.choice("shape", STRUCTURE_SHAPES, d.shape)
    downsample = t.integer("downsample", d.downsample, example="2", ge=1)
    box = t.numbers("box_um", d.box_um, example="[80.0, 80.0, 120.0]", length=3, gt=0)
    fraction = t.number("am_volume_fraction", d.am_volume_fraction, gt=0, le=0.5)
    slurry_d = t.number("cbd_diameter_slurry_um", d.cbd_diameter_slurry_um, gt=0)
    dried_d = t.number("cbd_diameter_dried_um", d.cbd_diameter_dried_um, gt=0)
    if isinstance(slurry_d, float) and isinstance(dried_d, float) and dried_d > slurry_d:
        # Drying shrinks the solvent-swollen CBD bead; it never grows.
        t.p.add(t.at("cbd_diameter_dried_um"), f"got {_show(dried_d)}; must be <= "
                                               f"cbd_diameter_slurry_um ({_show(slurry_d)}): "
                                               f"drying shrinks CBD beads")
        dried_d = _BAD
    am_rho = t.number("am_density_g_cm3", d.am_density_g_cm3, gt=0)
    cbd_rho = t.number("cbd_density_g_cm3", d.cbd_density_g_cm3, gt=0)
    psd = _psd_table(t, base_dir)
    sampling = t.choice("psd_sampling", PSD_SAMPLINGS, d.psd_sampling)
    t.finish()
    values = (shape, downsample, box, fraction, slurry_d, dried_d, am_rho, cbd_rho, psd, sampling)
    if any(v is _BAD for v in values):
        return _BAD
    return StructureSection(shape=shape, downsample=downsample, box_um=box,
                            am_volume_fraction=fraction, cbd_diameter_slurry_um=slurry_d,
                            cbd_diameter_dried_um=dried_d, am_density_g_cm3=am_rho,
                            cbd_density_g_cm3=cbd_rho, psd_table=psd, psd_sampling=sampling)


def _formulation(t: _Table) -> tuple[Any, Any]:
    """The formulation (or _BAD) and its name on its own, so duplicates are found regardless."""
    pct: dict[str, Any] = {"gt": 0, "lt": 100}
    name = t.name("name", example='"96-4"', why="it names directories and store labels")
    am = t.number("am_mass_percent", example="96.0", **pct)
    cbd = t.number("cbd_mass_percent", example="4.0", **pct)
    both = isinstance(am, float) and isinstance(cbd, float)
    if both and abs(am + cbd - 100) > MASS_SUM_TOLERANCE:
        t.p.add(t.path, f"am_mass_percent + cbd_mass_percent = {_show(am)} + {_show(cbd)} = "
                        f"{am + cbd:.6g}; must sum to 100 (solid mass split between AM and CBD)")
        am = _BAD
    solid = t.number("solid_content_percent", example="69.0", **pct)
    porosity = t.number("dried_porosity_percent", example="50.6", **pct)
    t.finish()
    values = (name, am, cbd, solid, porosity)
    if any(v is _BAD for v in values):
        return _BAD, name
    return Formulation(name=name, am_mass_percent=am, cbd_mass_percent=cbd,
                       solid_content_percent=solid, dried_porosity_percent=porosity), name


def _formulations(p: _Problems, data: Mapping[str, Any], root: _Table) -> Any:
    root.known.append("formulations")
    value = data.get("formulations")
    required = ('add at least one [[formulations]] table with name, am_mass_percent, '
                'cbd_mass_percent, solid_content_percent, dried_porosity_percent')
    if value is None:
        p.add("formulations", f"required; {required}")
        return _BAD
    if not isinstance(value, (list, tuple)):
        p.add("formulations", f"got {_kind(value)}; expected an array of tables: write "
                              f"[[formulations]] (double brackets), one per formulation")
        return _BAD
    if not value:
        p.add("formulations", f"got an empty array; {required}")
        return _BAD
    result: list[Any] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        path = f"formulations[{i}]"
        if not isinstance(item, Mapping):
            p.add(path, f"got {_show(item)} ({_kind(item)}); expected a [[formulations]] table")
            result.append(_BAD)
            continue
        f, name = _formulation(_Table(p, path, item,
                                      f"formulations[{i}] (a [[formulations]] table)"))
        if isinstance(name, str):
            # Names become directory names: compare as a case-insensitive file system would.
            folded = name.casefold()
            if folded in seen:
                p.add(f"{path}.name", f"got {_show(name)}; duplicates formulations"
                                      f"[{seen[folded]}].name (names must differ, ignoring "
                                      f"case); rename one")
                f = _BAD
            else:
                seen[folded] = i
        result.append(f)
    return _BAD if any(f is _BAD for f in result) else tuple(result)


def _defaults(cls: type) -> dict[str, Any]:
    """Field defaults of a section whose required fields forbid a default instance."""
    return {f.name: f.default for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING}


def _process(t: _Table) -> Any:
    d = _defaults(ProcessSection)
    slurry_t = t.number("slurry_temperature_K", d["slurry_temperature_K"], gt=0, why="kelvin")
    slurry_p = t.number("slurry_pressure_Pa", d["slurry_pressure_Pa"], gt=0, why="pascal")
    drying_t = t.number("drying_temperature_K", d["drying_temperature_K"], gt=0, why="kelvin")
    cal_t = t.number("calendering_temperature_K", d["calendering_temperature_K"], gt=0,
                     why="kelvin")
    degrees = t.numbers("compression_degrees", example="[0.15, 0.30]", ge=0,
                        le=MAX_COMPRESSION_DEGREE, unique=True,
                        why="fraction of the dried thickness the plane removes")
    speed = t.number("calendering_speed_um_per_us", d["calendering_speed_um_per_us"], gt=0)
    t.finish()
    values = (slurry_t, slurry_p, drying_t, cal_t, degrees, speed)
    if any(v is _BAD for v in values):
        return _BAD
    return ProcessSection(slurry_temperature_K=slurry_t, slurry_pressure_Pa=slurry_p,
                          drying_temperature_K=drying_t, calendering_temperature_K=cal_t,
                          compression_degrees=degrees, calendering_speed_um_per_us=speed)


def _numerics(t: _Table, base_dir: Path) -> Any:
    d = NumericsSection()
    ff_slurry = _forcefield(t, "forcefield_slurry", d.forcefield_slurry, base_dir)
    ff_dried = _forcefield(t, "forcefield_dried", d.forcefield_dried, base_dir)
    dt = t.number("timestep_fraction", d.timestep_fraction, gt=0, le=1,
                  why="fraction of the stability bound")
    check = t.integer("check_steps", d.check_steps, ge=1)
    steps = {key: t.integer(key, getattr(d, key), ge=1)
             for key in ("slurry_max_steps", "drying_max_steps", "relax_max_steps")}
    if _is_int(check):
        for key, value in steps.items():
            # A stage shorter than one check interval would never test for convergence.
            if _is_int(value) and check > value:
                t.p.add(t.at("check_steps"), f"got {check}; must be <= {key} ({value}) so "
                                             f"convergence is checked at least once; lower "
                                             f"check_steps or raise {key}")
                check = _BAD
                break
    relax_check = t.integer("relax_check_steps", d.relax_check_steps, ge=1)
    relax_max = steps["relax_max_steps"]
    if _is_int(relax_check) and _is_int(relax_max) and relax_check > relax_max:
        t.p.add(t.at("relax_check_steps"), f"got {relax_check}; must be <= relax_max_steps "
                                           f"({relax_max}) so the relaxation is checked at least "
                                           f"once; lower relax_check_steps or raise relax_max_steps")
        relax_check = _BAD
    tol = t.number("tolerance", d.tolerance, gt=0, lt=1)
    t.finish()
    values = (ff_slurry, ff_dried, dt, check, relax_check, tol, *steps.values())
    if any(v is _BAD for v in values):
        return _BAD
    return NumericsSection(forcefield_slurry=ff_slurry, forcefield_dried=ff_dried,
                           timestep_fraction=dt, check_steps=check, relax_check_steps=relax_check,
                           tolerance=tol, **steps)


def _analysis(t: _Table) -> Any:
    d = AnalysisSection()
    voxel = t.number("voxel_size_um", d.voxel_size_um, gt=0)
    cbd_as = t.choice("cbd_as", CBD_AS, d.cbd_as)
    t.finish()
    if voxel is _BAD or cbd_as is _BAD:
        return _BAD
    return AnalysisSection(voxel_size_um=voxel, cbd_as=cbd_as)


# --------------------------------------------------------------------------------------------
# Entry points


def parse_spec(data: Mapping[str, Any], *, base_dir: Path) -> Spec:
    """Validate a spec already read into a dict (from TOML, or from :func:`spec_to_dict`).

    ``base_dir`` anchors relative input paths (particle database, PSD table, force-field files);
    ``sweep.output`` is anchored at the current directory. A ``None`` value means "not given".
    Raises :class:`SpecError` listing every problem, one per line.
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"spec: got {_kind(data)}; expected a table of sections")
    p = _Problems()
    root = _Table(p, "", data, "the top of the file")
    version = root.integer("schema_version", SCHEMA_VERSION, example=str(SCHEMA_VERSION))
    if _is_int(version) and version != SCHEMA_VERSION:
        p.add("schema_version", f"got {version}; this mesosweep reads schema_version = "
                                f"{SCHEMA_VERSION} only; convert the spec or upgrade mesosweep")
        version = _BAD

    def read(key: str, reader: Any, *, required: bool = False) -> Any:
        table = root.table(key, f"[{key}]", required=required)
        return _BAD if table is None else reader(table)

    # Read in file order so problem lines come out in the order the user reads the file.
    sections = {
        "sweep": read("sweep", _sweep, required=True),
        "cluster": read("cluster", _cluster),
        "particles": read("particles", lambda t: _particles(t, base_dir)),
        "structure": read("structure", lambda t: _structure(t, base_dir)),
        "formulations": _formulations(p, data, root),
        "process": read("process", _process, required=True),
        "numerics": read("numerics", lambda t: _numerics(t, base_dir)),
        "analysis": read("analysis", _analysis),
    }
    root.finish(section_word="top-level key")

    if p.lines:
        raise SpecError(p.lines)
    return Spec(schema_version=version, **sections)


def check_forcefields(spec: Spec) -> None:
    """Load both parameter sets and refuse missing or non-physical values before any job starts.

    Kept out of :func:`parse_spec`, which checks a spec's shape only (a set named there may not
    exist yet where the spec is written). Raises :class:`SpecError`, one line per bad set.
    """
    from mesosweep.stages.forcefield import (  # stdlib only
        ForceFieldError,
        barostat,
        load_forcefield,
    )

    lines = []
    for key in ("forcefield_slurry", "forcefield_dried"):
        field = f"numerics.{key}"
        try:
            ff = load_forcefield(resolve_forcefield(getattr(spec.numerics, key), field=field))
            if key == "forcefield_slurry":
                barostat(ff)  # the slurry runs NPT
        except (ForceFieldError, SpecError) as exc:
            lines.append(str(exc) if str(exc).startswith(field) else f"{field}: {exc}")
    if lines:
        raise SpecError(lines)


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read and validate a sweep spec TOML file; relative input paths are taken from its folder.

    Every problem line is prefixed with the file name, compiler-style. Raises
    :class:`SpecError` (file missing, unreadable, TOML syntax error, or invalid content).
    """
    label = os.fspath(path)
    file = Path(label).expanduser()
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SpecError(f"{label}: spec file not found (looked for {file.absolute()}); "
                        f"check the path, e.g. sweeps/quick.toml") from None
    except IsADirectoryError:
        raise SpecError(f"{label}: is a directory; give the path of a .toml spec file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{label}: not valid TOML: {exc}; fix the syntax there") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{label}: not UTF-8 text (byte {exc.start}); save the spec as "
                        f"UTF-8") from None
    except OSError as exc:
        raise SpecError(f"{label}: cannot read the spec file ({exc.strerror or exc})") from None
    try:
        return parse_spec(data, base_dir=file.parent)
    except SpecError as exc:
        raise SpecError([f"{label}: {line}" for line in exc.problems]) from None


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The spec as a plain JSON-able dict: paths as strings, tuples as lists, unset as None.

    Keys match the TOML file, so ``parse_spec(spec_to_dict(s), base_dir=...) == s``.
    """
    return _plain(spec)


def canonical_json(spec: Spec) -> str:
    """The exact text :func:`spec_hash` hashes: sorted keys, no spaces, ASCII only."""
    return json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False)


def spec_hash(spec: Spec) -> str:
    """SHA-256 (hex) of :func:`canonical_json`: equal specs hash equal, any change differs."""
    return hashlib.sha256(canonical_json(spec).encode("ascii")).hexdigest()
