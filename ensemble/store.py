"""The results store: one zarr store per sweep, readable with plain ``xarray.open_zarr``.

Data model (dims, coords, attrs):

- dims ``case`` (formulation name), ``realisation`` (index), ``degree`` (compression degree;
  0 is the dried, uncalendered electrode), ``stage`` (structure … analysis), ``stream`` (seeds).
- per (case, realisation, degree): every metric of ``analysis.summary.METRICS`` — porosity (1),
  thickness (µm), tortuosity factors, phase profiles (``z_norm``), pore-network and particle
  shape statistics with fixed-bin histograms (bin centres as coordinates, their edges in the
  (n, 2) bounds variable ``<bin>_bounds`` that the coordinate's CF ``bounds`` attribute names)
  — and ``springback`` (1).
- per (case, realisation): ``slurry_density`` (g/cm³), ``status`` (flags: queued, running,
  done, failed), ``attempts``, ``wall_time`` (s), ``started_at``/``finished_at`` (CF time),
  ``host``, ``job_id``, ``error``, ``log_tail``, ``lammps_launches``; ``seed`` per stream.
- per (case, realisation, stage): ``stage_status`` (same flags), ``stage_wall_time`` (s),
  ``stage_steps`` (LAMMPS steps).
- dataset attrs: ``Conventions`` (CF), ``mesosweep_version``, ``spec`` (canonical JSON),
  ``spec_hash``, versions.

CF conventions, so that tools label and read it without mesosweep: every variable and
coordinate has a ``long_name`` (what a plot's axis says: ``ds.porosity.plot()`` labels itself)
and ``units`` where it has any; times are CF times; flags have ``flag_values`` and
``flag_meanings``; histogram bins have bounds variables.

The template is written once; afterwards each realisation writes only its own chunks (every
variable is chunked by one case and one realisation), so concurrent writers never share a chunk,
and a missing value is never read as "done": ``status`` says what happened. Values are written
before the status that vouches for them, so an interrupted write leaves the old status.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import warnings
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from mesosweep.analysis.metric_table import CONVENTIONS, metrics_table
from mesosweep.ensemble.pipeline import RECORDED
from mesosweep.ensemble.plan import Realisation, degrees
from mesosweep.ensemble.seeds import STREAMS
from mesosweep.ensemble.spec import Spec, canonical_json, resolve_forcefield, spec_hash
from mesosweep.stages.contract import file_sha256

QUEUED, RUNNING, DONE, FAILED = 0, 1, 2, 3
STATUS_MEANINGS = "queued running done failed"
STAGES = RECORDED  # the ``stage`` coordinate (ensemble.pipeline)
TIME_UNITS = "seconds since 1970-01-01T00:00:00Z"
PROFILE_BINS = 20  # bins of the thickness profiles (normalised thickness 0..1)
PACKAGES = ("mesosweep", "lammps", "mpi4py", "dask", "distributed", "dask-jobqueue", "numpy",
            "scipy", "xarray", "zarr", "scikit-image")
ERROR_WIDTH = 400


def package_versions() -> dict[str, str]:
    """Versions of the packages that produce the results (provenance)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def input_files(spec: Spec) -> dict[str, str]:
    """Spec field -> SHA-256 of the file it names (force fields, PSD table, particle database)."""
    n, out = spec.numerics, {}
    for key in ("forcefield_slurry", "forcefield_dried"):
        out[f"numerics.{key}"] = file_sha256(resolve_forcefield(getattr(n, key)))
    if isinstance(spec.structure.psd_table, Path):
        out["structure.psd_table"] = file_sha256(spec.structure.psd_table)
    if spec.particles.database is not None:
        out["particles.database"] = file_sha256(spec.particles.database)
    return out


def template(spec: Spec, realisations: list[Realisation]) -> xr.Dataset:
    """The empty dataset of a sweep: every variable with its units, all realisations queued."""
    cases = [f.name for f in spec.formulations]
    n_c, n_r, degs = len(cases), spec.sweep.realisations, degrees(spec)
    shape3, shape2 = (n_c, n_r, len(degs)), (n_c, n_r)
    dims3, dims2 = ("case", "realisation", "degree"), ("case", "realisation")
    dims_s, shape_s = ("case", "realisation", "stage"), (n_c, n_r, len(STAGES))
    flags = {"flag_values": [QUEUED, RUNNING, DONE, FAILED], "flag_meanings": STATUS_MEANINGS}
    seeds = np.zeros((n_c, n_r, len(STREAMS)), dtype=np.int64)
    for real in realisations:
        seeds[real.case_index, real.index] = [real.seeds[s] for s in STREAMS]

    def nan3(units: str, text: str) -> xr.Variable:
        return xr.Variable(dims3, np.full(shape3, np.nan), {"units": units, "description": text})

    data = {
        "springback": nan3("1", "relative thickness regained after the calendering plane was "
                                "released (0 for the dried electrode)"),
        "slurry_density": xr.Variable(dims2, np.full(shape2, np.nan),
                                      {"units": "g/cm^3", "description": "mass over box volume "
                                       "at the end of the slurry stage, solvent included"}),
        "status": xr.Variable(dims2, np.full(shape2, QUEUED, dtype=np.int8),
                              {**flags, "description": "what happened to the realisation"}),
        "stage_status": xr.Variable(dims_s, np.full(shape_s, QUEUED, dtype=np.int8),
                                    {**flags, "description": "what happened to each stage of "
                                     "the realisation's last attempt"}),
        "stage_wall_time": xr.Variable(dims_s, np.full(shape_s, np.nan),
                                       {"units": "s", "description": "wall time of the stage "
                                        "(LAMMPS stages: the MPI run; calendering: all degrees)"}),
        "stage_steps": xr.Variable(dims_s, np.zeros(shape_s, dtype=np.int64),
                                   {"units": "1", "description": "LAMMPS timesteps run"}),
        "started_at": xr.Variable(dims2, np.full(shape2, np.nan),
                                  {"units": TIME_UNITS, "calendar": "standard",
                                   "description": "start of the last attempt (UTC)"}),
        "finished_at": xr.Variable(dims2, np.full(shape2, np.nan),
                                   {"units": TIME_UNITS, "calendar": "standard",
                                    "description": "end of the last attempt (UTC)"}),
        "job_id": xr.Variable(dims2, np.full(shape2, "", dtype=object),
                              {"description": "batch job that ran the last attempt ('' when "
                               "local)"}),
        "log_tail": xr.Variable(dims2, np.full(shape2, "", dtype=object),
                                {"description": "last lines of the failed stage's LAMMPS log"}),
        "attempts": xr.Variable(dims2, np.zeros(shape2, dtype=np.int16),
                                {"units": "1", "description": "times the realisation was started"}),
        "wall_time": xr.Variable(dims2, np.full(shape2, np.nan),
                                 {"units": "s", "description": "wall time of the last attempt"}),
        "lammps_launches": xr.Variable(dims2, np.zeros(shape2, dtype=np.int16),
                                       {"units": "1", "description": "LAMMPS runs started by "
                                        "the last attempt (finished stages are not rerun)"}),
        # Variable-length strings: zarr v3 specifies them, unlike fixed-width unicode.
        "host": xr.Variable(dims2, np.full(shape2, "", dtype=object),
                            {"description": "host that ran the last attempt"}),
        "record_digest": xr.Variable(dims2, np.full(shape2, "", dtype=object),
                                     {"description": "per variable, a hash of the values the "
                                      "realisation's last task wrote (JSON): mesosweep status "
                                      "--verify checks them"}),
        "error": xr.Variable(dims2, np.full(shape2, "", dtype=object),
                             {"description": "first line of the last failure ('' if none)"}),
        "seed": xr.Variable(("case", "realisation", "stream"), seeds,
                            {"units": "1", "description": "random seeds derived from the root "
                             "seed and the realisation's index"}),
    }
    for name, var in data.items():
        var.attrs = {"long_name": LONG_NAMES[name], **var.attrs}
    metrics, metric_coords = metric_variables(spec, shape3, dims3)
    data.update(metrics)
    coords = {
        **metric_coords,
        "case": ("case", np.array(cases, dtype=object),
                 {"long_name": "formulation", "description": "formulation name (AM:CBD mass "
                  "ratio)"}),
        "realisation": ("realisation", np.arange(n_r),
                        {"long_name": "realisation", "units": "1",
                         "description": "index of the random realisation"}),
        "degree": ("degree", np.array(degs),
                   {"long_name": "compression degree", "units": "1",
                    "description": "compression degree: fraction of the dried thickness "
                    "removed by the calendering plane; 0 = dried electrode"}),
        "stream": ("stream", np.array(STREAMS, dtype=object),
                   {"long_name": "seed stream", "description": "seed stream"}),
        "stage": ("stage", np.array(STAGES, dtype=object),
                  {"long_name": "stage", "description": "stage of a realisation, in the order "
                   "they run"}),
    }
    attrs = {
        "Conventions": CONVENTIONS,
        "title": f"mesosweep sweep {spec.sweep.name}",
        "mesosweep_version": package_versions()["mesosweep"],
        "spec": canonical_json(spec),
        "spec_hash": spec_hash(spec),
        # What the spec names but does not hold: a parameter file whose content changes is a
        # different sweep even when the spec's text is the same.
        "input_files": json.dumps(input_files(spec), sort_keys=True),
        "root_seed": spec.sweep.root_seed,
        "versions": json.dumps(package_versions(), sort_keys=True),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "host_platform": platform.platform(),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


# What a plot labels each variable's axis with (CF long_name); metrics have theirs in
# analysis.metric_table.
LONG_NAMES = {
    "springback": "springback", "slurry_density": "slurry density",
    "status": "realisation status", "stage_status": "stage status",
    "stage_wall_time": "stage wall time", "stage_steps": "LAMMPS steps",
    "started_at": "start of the last attempt", "finished_at": "end of the last attempt",
    "job_id": "batch job", "log_tail": "log tail", "attempts": "attempts",
    "wall_time": "wall time", "lammps_launches": "LAMMPS launches", "host": "host",
    "record_digest": "record digest", "error": "error", "seed": "random seed",
}


def metric_variables(spec: Spec, shape3: tuple[int, ...], dims3: tuple[str, ...]
                     ) -> tuple[dict[str, xr.Variable], dict[str, tuple]]:
    """Store variables for every metric of :data:`analysis.summary.METRICS`, per state.

    Histogram bins get their centres as the coordinate and their edges as the CF bounds
    variable ``<dim>_bounds`` (:meth:`analysis.metric_table.Coordinate.variables`).
    """
    table = metrics_table(PROFILE_BINS)
    variables, coords = {}, {}
    convention = (f"; CBD counted as {spec.analysis.cbd_as} where the metric depends on it; "
                  f"from a {spec.analysis.voxel_size_um} um voxel image")
    for name, metric in table.items():
        variables[name] = xr.Variable(dims3 + metric.dims, np.full(shape3 + metric.shape, np.nan),
                                      {"long_name": metric.long_name, "units": metric.units,
                                       "description": metric.description + convention})
        for dim in metric.dims:
            coords.update(metric.coords[dim].variables(dim))
    return variables, coords


def create(path: Path, spec: Spec, realisations: list[Realisation], lammps_version: str) -> None:
    """Write the template (metadata and fill values) once; chunks of one realisation."""
    forget_writers()
    ds = template(spec, realisations)
    ds.attrs["lammps_version"] = lammps_version
    encoding = {name: {"chunks": tuple(1 if d in ("case", "realisation") else ds.sizes[d]
                                       for d in var.dims)}
                for name, var in ds.data_vars.items()}
    # Consolidated once: region writes never change metadata, so it stays valid and plain
    # ``xr.open_zarr(path)`` reads the store without a warning. Zarr warns that consolidation
    # is outside the v3 spec; readers without it fall back to the per-array metadata.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        ds.to_zarr(path, mode="w-", encoding=encoding, consolidated=True)


def open_store(path: Path) -> xr.Dataset:
    """The store as an xarray dataset (lazy)."""
    return xr.open_zarr(path)


@functools.lru_cache(maxsize=8)
def _writer(path: str) -> zarr.Group:
    return zarr.open_group(path, mode="r+")


def writer(path: Path) -> zarr.Group:
    """The store opened for writing, once per process: every task of a realisation writes a
    few small chunks, and re-reading the metadata for each would cost more than the writes.
    Shapes change only in :func:`ensemble.resume.grow` (before any worker starts), which calls
    :func:`forget_writers`."""
    return _writer(str(Path(path).resolve()))


def forget_writers() -> None:
    """Drop the cached writers: their metadata no longer matches a grown or recreated store."""
    _writer.cache_clear()


def _group(target: Path | zarr.Group, mode: str = "r+") -> zarr.Group:
    return target if isinstance(target, zarr.Group) else zarr.open_group(str(target), mode=mode)


def write_realisation(target: Path | zarr.Group, case_index: int, index: int,
                      values: dict[str, object]) -> None:
    """Write one realisation's values into its own chunks of the store.

    ``values`` maps variable names to values shaped like one realisation's slice: scalars for
    (case, realisation) variables, one value per degree or stage for the others. ``status``,
    if given, is written last, so it never vouches for values that were not written.
    """
    group = _group(target)
    for name in sorted(values, key=lambda n: n == "status"):
        group[name][case_index, index] = values[name]


def write_stage(target: Path | zarr.Group, case_index: int, index: int, stage: str, status: int,
                wall_time_s: float = float("nan"), steps: int = 0) -> None:
    """Record one stage's status (and, when it ended, its wall time and steps)."""
    group = _group(target)
    k = STAGES.index(stage)
    if status != RUNNING:  # a stage that starts has no wall time or steps yet: one write only
        group["stage_wall_time"][case_index, index, k] = wall_time_s
        group["stage_steps"][case_index, index, k] = steps
    group["stage_status"][case_index, index, k] = status


def _digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()[:16]


def record_digest(target: Path | zarr.Group, values: dict[str, object]) -> str:
    """What :func:`verify` checks a realisation's ``values`` against: per variable, a hash of
    the values as the store holds them (its dtype), as JSON."""
    group = _group(target)
    return json.dumps({name: _digest(np.asarray(value, dtype=group[name].dtype))
                       for name, value in sorted(values.items())}, separators=(",", ":"))


def verify(target: Path | zarr.Group) -> dict[tuple[int, int], list[str]]:
    """Every done realisation whose records differ from what its last task wrote: (case
    index, realisation index) -> the variables that differ (a lost chunk reads back as the fill
    value, a damaged one as other values). A realisation with no digest (a store from before
    digests) is not checked."""
    group = _group(target, mode="r")
    if "record_digest" not in group:
        return {}
    status, digests = group["status"][...], group["record_digest"][...]
    wanted = {}
    for c, r in zip(*np.nonzero(status == DONE), strict=True):
        if digests[c, r]:
            wanted[int(c), int(r)] = json.loads(digests[c, r])
    names = sorted({name for d in wanted.values() for name in d})
    arrays = {name: group[name][...] for name in names}
    return {key: bad for key, expected in wanted.items()
            if (bad := [name for name, sha in expected.items()
                        if _digest(arrays[name][key]) != sha])}


def read_values(target: Path | zarr.Group, name: str) -> np.ndarray:
    """One variable's raw values (no decoding), cheaply, without xarray."""
    return _group(target, mode="r")[name][...]


def clip_error(text: str) -> str:
    """First line of an error, short enough for the store."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:ERROR_WIDTH]
