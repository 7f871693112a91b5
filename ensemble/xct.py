"""Experimental side of the comparison: measure random XCT sub-volumes into a zarr store.

Pipeline (:func:`measure_file` → :func:`measure_phases` → :func:`write_xct`)
----------------------------------------------------------------------------
1. Read the volume (any format of :mod:`stages.xct_io`), move its through-plane axis to z,
   map labels (or a grey threshold) to ``PORE`` / ``AM`` / ``CBD``.
2. Check the request against the volume before any work: the sub-volume fits, AM and a
   conducting phase (pore or CBD) are present, and without overlap the sub-volumes fit.
3. Draw ``n`` seeded origins (:func:`analysis.subvolumes.sample_origins`).
4. For each sub-volume: separate the AM phase into secondary particles with the
   distance-transform watershed of the particle database (:func:`analysis.separation.
   separate_particles`) on the sub-volume grown by a margin (so particles near its faces
   are cut with their surroundings in view), crop back, and drop the particles that touch a
   face of the sub-volume (they are cut, so their shape is not theirs); then
   :func:`analysis.summary.electrode_metrics` — the very function the simulations are
   measured with — gives every metric under the simulation side's names and units.
5. Mark the sub-volume closest to the mean porosity and through-plane tortuosity factor
   (:func:`analysis.subvolumes.closest_to_mean`), as the paper picked one.

The dataset
-----------
Dims ``subvolume`` plus the metrics' own (``z_norm``, ``pore_radius_bin`` …, declared in
:data:`analysis.summary.METRICS`); histogram bins carry ``<dim>_lower`` / ``<dim>_upper``
coordinates (bin edges). Extra variables: ``origin`` and ``origin_um`` (lower corner of each
sub-volume), ``representative`` (1 for the sub-volume closest to the mean). Attributes record
the source, voxel size, sub-volume size, labels, seed and the compression ``degree`` that the
imaged electrode corresponds to (NaN when unknown). It is written as the group ``xct`` of a
sweep store, or at the root of a store of its own; ``xr.open_zarr(path, group="xct")`` (or
plain ``xr.open_zarr(path)``) reads it.

Caveats, stated where they matter
---------------------------------
* A sub-volume is an interior crop unless it spans the whole electrode thickness
  (``full_thickness``): its "thickness" is its height, and its phase profiles run over the
  crop, not from the current collector to the surface.
* Dropping particles cut by the sub-volume's faces favours small particles, more so when
  sub-volumes are small compared with the particles.
* Sub-volumes of one tomogram share one electrode (and may overlap): their spread
  understates the spread between electrodes.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xarray as xr

from mesosweep.analysis.phases import AM, CBD, PORE
from mesosweep.analysis.subvolumes import (
    capacity_without_overlap,
    closest_to_mean,
    cut,
    sample_origins,
    subvolume_shape,
)

__all__ = [
    "GROUP",
    "REPRESENTATIVE_BY",
    "check_request",
    "measure_file",
    "measure_phases",
    "metrics_dataset",
    "open_xct",
    "particle_image",
    "size_like",
    "write_xct",
]

#: Group of a sweep store that holds the experimental sub-volumes.
GROUP = "xct"
#: Metrics by which the representative sub-volume is chosen (the paper's Fig. 1B axes).
REPRESENTATIVE_BY = ("porosity", "tau_z")
#: Default margin around a sub-volume for the particle watershed, µm: about the radius of a
#: large secondary particle, so every particle touching the sub-volume is seen whole.
MARGIN_UM = 5.0

Log = Callable[[str], None]


# --------------------------------------------------------------------------- validation


def check_request(phases: np.ndarray, sub_shape: Sequence[int], n: int, *,
                  overlap: bool) -> None:
    """Refuse a request that cannot be met, before any measurement.

    Parameters
    ----------
    phases : numpy.ndarray of uint8, 3-D
        Phase image ``[x, y, z]`` (labels of :mod:`analysis.phases`).
    sub_shape : sequence of 3 int
        Sub-volume shape, voxels.
    n : int
        Number of sub-volumes.
    overlap : bool
        Whether sub-volumes may overlap.

    Raises
    ------
    ValueError
        The sub-volume is larger than the volume, the AM phase or the conducting phase
        (pore and CBD) is absent, or without overlap more sub-volumes are asked for than fit.
    """
    counts = np.bincount(np.asarray(phases).reshape(-1), minlength=3)
    if counts[AM] == 0:
        raise ValueError("the volume has no active-material voxels: check --am-label / threshold")
    if counts[PORE] + counts[CBD] == 0:
        raise ValueError("the volume has no pore (or CBD) voxels: porosity, tortuosity and the "
                         "pore network need them; check the labels")
    vol = phases.shape
    if any(s > v for s, v in zip(sub_shape, vol)):
        raise ValueError(f"the sub-volume ({tuple(sub_shape)} voxels) is larger than the volume "
                         f"({tuple(vol)} voxels); ask for a smaller size")
    if not overlap and n > capacity_without_overlap(vol, sub_shape):
        raise ValueError(f"{n} sub-volumes of {tuple(sub_shape)} voxels do not fit into "
                         f"{tuple(vol)} voxels without overlapping: at most "
                         f"{capacity_without_overlap(vol, sub_shape)} do; ask for fewer or "
                         "allow overlap")


# --------------------------------------------------------------------------- measuring


def particle_image(phases: np.ndarray, origin: Sequence[int], sub_shape: Sequence[int], *,
                   margin_vox: int, min_distance_vox: int = 5, erosion_vox: int = 1,
                   min_voxels: int = 27) -> np.ndarray:
    """Secondary-particle ids of one sub-volume; particles cut by its faces are dropped.

    Parameters
    ----------
    phases : numpy.ndarray of uint8, 3-D
        Whole phase image.
    origin, sub_shape : sequence of 3 int
        The sub-volume, voxels.
    margin_vox : int
        Voxels added on every side (within the volume) for the watershed.
    min_distance_vox, erosion_vox
        Watershed parameters of :func:`analysis.separation.separate_particles`.
    min_voxels : int
        Particles with fewer voxels inside the sub-volume are dropped as fragments.

    Returns
    -------
    numpy.ndarray of int32
        Shape ``sub_shape``: ids 1..K of whole particles, 0 elsewhere.
    """
    from mesosweep.analysis.separation import separate_particles

    o = np.asarray(origin, dtype=np.int64)
    s = np.asarray(sub_shape, dtype=np.int64)
    lo = np.maximum(o - margin_vox, 0)
    hi = np.minimum(o + s + margin_vox, phases.shape)
    grown = phases[tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))]
    labels = separate_particles(grown == AM, erosion_vox=erosion_vox,
                                min_distance_vox=min_distance_vox)
    inner = cut(labels, o - lo, s)
    faces = np.concatenate([inner[0].ravel(), inner[-1].ravel(), inner[:, 0].ravel(),
                            inner[:, -1].ravel(), inner[:, :, 0].ravel(), inner[:, :, -1].ravel()])
    counts = np.bincount(inner.reshape(-1))
    drop = np.zeros(counts.size, dtype=bool)
    drop[np.unique(faces)] = True
    drop |= counts < min_voxels
    drop[0] = True
    # Renumber the kept particles 1..K so ids stay small whatever the grown region held.
    lookup = np.zeros(counts.size, dtype=np.int32)
    keep = np.flatnonzero(~drop)
    lookup[keep] = np.arange(1, keep.size + 1, dtype=np.int32)
    return lookup[inner]


def measure_phases(phases: np.ndarray, voxel_size_um: float, size_um: Sequence[float], *,
                   n: int = 20, seed: int = 0, overlap: bool = True,
                   full_thickness: bool = False, cbd_as: str = "pore", profile_bins: int = 20,
                   margin_um: float = MARGIN_UM, min_distance_vox: int = 5,
                   erosion_vox: int = 1, min_voxels: int = 27,
                   log: Log | None = None) -> xr.Dataset:
    """Metrics of ``n`` random sub-volumes of a phase image.

    Parameters
    ----------
    phases : numpy.ndarray of uint8, shape (nx, ny, nz)
        Phase labels, z through-plane.
    voxel_size_um : float
        Voxel edge, µm.
    size_um : sequence of 3 float
        Sub-volume size along x, y, z, µm (z ignored with ``full_thickness``).
    n : int, default 20
        Number of sub-volumes.
    seed : int, default 0
        Seed of their placement.
    overlap : bool, default True
        Whether sub-volumes may overlap.
    full_thickness : bool, default False
        Sub-volumes span the whole through-plane extent of the volume (a tomogram that holds
        the electrode from current collector to surface).
    cbd_as : {"pore", "solid"}, default "pore"
        CBD convention of porosity and pore network, as in the sweep (tortuosity is given
        both ways whatever it is).
    profile_bins : int, default 20
        Bins of the thickness profiles (as in the sweep store).
    margin_um : float, default 5
        Margin for the particle watershed, µm.
    min_distance_vox, erosion_vox, min_voxels
        Particle separation parameters (as for the particle database).
    log : callable(str), optional
        Receives one line per step.

    Returns
    -------
    xarray.Dataset
        See the module notes.
    """
    from mesosweep.analysis.summary import electrode_metrics, metrics_table

    say = log or (lambda line: None)
    phases = np.asarray(phases)
    if phases.ndim != 3:
        raise ValueError(f"the phase image must be 3-D, got shape {phases.shape}")
    if not voxel_size_um > 0:
        raise ValueError(f"voxel_size_um must be > 0, got {voxel_size_um!r}")
    size = [float(v) for v in size_um]
    if full_thickness:
        size[2] = phases.shape[2] * voxel_size_um
    sub = subvolume_shape(size, voxel_size_um)
    check_request(phases, sub, n, overlap=overlap)
    origins = sample_origins(phases.shape, sub, n, seed=seed, overlap=overlap)
    margin = int(np.ceil(margin_um / voxel_size_um))
    table = metrics_table(profile_bins)
    records = []
    for k, origin in enumerate(origins):
        region = cut(phases, origin, sub)
        particles = particle_image(phases, origin, sub, margin_vox=margin,
                                   min_distance_vox=min_distance_vox, erosion_vox=erosion_vox,
                                   min_voxels=min_voxels)
        with warnings.catch_warnings():
            # A sub-volume that does not percolate gets tau = inf, which is the answer.
            warnings.filterwarnings("ignore", message="no conducting path")
            # An interior crop is electrode from bottom to top: its height is its thickness.
            values = electrode_metrics(
                region, particles, voxel_size_um, cbd_as=cbd_as, profile_bins=profile_bins,
                height_um=None if full_thickness else sub[2] * voxel_size_um,
                periodic_xy=False)
        records.append(values)
        say(f"sub-volume {k + 1}/{n} at {tuple(int(v) for v in origin)}: porosity "
            f"{values['porosity']:.3f}, tau_z {values['tau_z']:.2f}, "
            f"{int(values['particle_count'])} whole particles")
    ds = metrics_dataset(records, table)
    ds = ds.assign(
        origin=(("subvolume", "axis"), origins,
                {"units": "voxel", "description": "lower corner of the sub-volume in the volume "
                 "(after moving the through-plane axis to z)"}),
        origin_um=(("subvolume", "axis"), origins * float(voxel_size_um),
                   {"units": "um", "description": "lower corner of the sub-volume"}),
    ).assign_coords(axis=("axis", np.array(["x", "y", "z"], dtype=object),
                          {"description": "axis of the volume, z through-plane"}))
    by = np.column_stack([ds[m].values for m in REPRESENTATIVE_BY])
    best = closest_to_mean(by)
    flag = np.zeros(n, dtype=np.int8)
    flag[best] = 1
    ds["representative"] = xr.Variable(
        "subvolume", flag, {"flag_values": [0, 1], "flag_meanings": "other representative",
                            "description": "1 for the sub-volume closest to the mean of "
                            + " and ".join(REPRESENTATIVE_BY) + " (each divided by its sd)"})
    ds.attrs.update(
        title="mesosweep XCT sub-volumes",
        voxel_size_um=float(voxel_size_um),
        size_requested_um=json.dumps(size),
        subvolume_shape_vox=json.dumps([int(s) for s in sub]),
        size_um=json.dumps([s * float(voxel_size_um) for s in sub]),
        volume_shape_vox=json.dumps([int(s) for s in phases.shape]),
        seed=int(seed), overlap=int(overlap), full_thickness=int(full_thickness),
        cbd_as=cbd_as, profile_bins=int(profile_bins),
        watershed=json.dumps({"margin_um": margin_um, "min_distance_vox": min_distance_vox,
                              "erosion_vox": erosion_vox, "min_voxels": min_voxels}),
        representative=int(best),
        metrics_function="mesosweep.analysis.summary.electrode_metrics",
        particles="watershed per sub-volume (with margin); particles cut by its faces dropped",
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return ds


def metrics_dataset(records: list[dict], table: dict) -> xr.Dataset:
    """Stack per-sub-volume metric dicts into a dataset shaped by a metrics table.

    Parameters
    ----------
    records : list of dict
        One :func:`analysis.summary.electrode_metrics` result per sub-volume.
    table : dict of str to analysis.summary.Metric
        The declaration (:func:`analysis.summary.metrics_table`).

    Returns
    -------
    xarray.Dataset
        One variable per metric with dims ``("subvolume", *metric.dims)`` and the units and
        description of the table; coordinates with units, and bin edges as ``<dim>_lower`` /
        ``<dim>_upper``.
    """
    n = len(records)
    data, coords = {}, {"subvolume": ("subvolume", np.arange(n),
                                      {"description": "index of the random sub-volume"})}
    for name, metric in table.items():
        values = np.stack([np.asarray(r[name], dtype=float).reshape(metric.shape)
                           for r in records]) if n else np.zeros((0, *metric.shape))
        data[name] = xr.Variable(("subvolume", *metric.dims), values,
                                 {"units": metric.units, "description": metric.description})
        for dim in metric.dims:
            if dim in coords:
                continue
            c = metric.coords[dim]
            values = np.asarray(c.values)
            if values.dtype.kind in "US":
                values = values.astype(object)  # variable-length strings: zarr v3 has them
            coords[dim] = (dim, values, {"units": c.units, "description": c.description})
            if c.edges is not None:
                coords[f"{dim}_lower"] = (dim, np.asarray(c.edges[:-1], dtype=float),
                                          {"units": c.units, "description": f"lower edge of {dim}"})
                coords[f"{dim}_upper"] = (dim, np.asarray(c.edges[1:], dtype=float),
                                          {"units": c.units, "description": f"upper edge of {dim}"})
    return xr.Dataset(data, coords=coords)


def measure_file(path: str | Path, voxel_size_um: float, *, size_um: Sequence[float],
                 am: int | Sequence[int] | None = None, cbd: int | Sequence[int] | None = None,
                 pore: int | Sequence[int] | None = None, threshold: float | None = None,
                 through_plane_axis: int = 2, fmt: str | None = None,
                 shape: Sequence[int] | None = None, dtype: str | None = None,
                 degree: float = float("nan"), case: str = "",
                 log: Log | None = None, **options) -> xr.Dataset:
    """Read an XCT volume as described and measure random sub-volumes of it.

    Parameters
    ----------
    path : str or pathlib.Path
        The volume (see :func:`stages.xct_io.read_volume`).
    voxel_size_um : float
        Voxel edge, µm.
    size_um : sequence of 3 float
        Sub-volume size along x, y, z after the through-plane axis became z, µm.
    am, cbd, pore, threshold
        Labels of each phase, or a grey threshold (see :func:`stages.xct_io.labels_to_phases`).
    through_plane_axis : {0, 1, 2}, default 2
        Storage axis through the electrode's thickness.
    fmt, shape, dtype
        Format, and shape and dtype of a raw file.
    degree : float, default NaN
        Compression degree the imaged electrode corresponds to (0 uncalendered), recorded so
        the comparison can pick the matching simulated degree; NaN when unknown.
    case : str, default ""
        Formulation (sweep case) the electrode corresponds to, if any.
    log : callable(str), optional
        One line per step.
    **options
        Passed to :func:`measure_phases` (``n``, ``seed``, ``overlap``, ...).

    Returns
    -------
    xarray.Dataset
        :func:`measure_phases`'s dataset with the source recorded.
    """
    from mesosweep.stages.particles import array_sha256
    from mesosweep.stages.xct_io import labels_to_phases, read_volume, through_plane_last

    say = log or (lambda line: None)
    if not voxel_size_um > 0:
        raise ValueError(f"voxel_size_um must be > 0 (µm), got {voxel_size_um!r}")
    if am is None and threshold is None:
        am = 1
    volume = read_volume(path, fmt=fmt, shape=shape, dtype=dtype)
    volume = through_plane_last(volume, through_plane_axis)
    phases = labels_to_phases(volume, am=am, cbd=cbd, pore=pore, threshold=threshold)
    digest = array_sha256(volume)
    del volume
    fractions = np.bincount(phases.reshape(-1), minlength=3) / phases.size
    say(f"volume {phases.shape} voxels of {voxel_size_um} um: pore {fractions[PORE]:.1%}, "
        f"AM {fractions[AM]:.1%}, CBD {fractions[CBD]:.1%}")
    ds = measure_phases(phases, voxel_size_um, size_um, log=log, **options)
    ds.attrs.update(source=str(path), source_sha256=digest,
                    through_plane_axis=int(through_plane_axis),
                    labels=json.dumps({"am": _as_list(am), "cbd": _as_list(cbd),
                                       "pore": _as_list(pore), "threshold": threshold}),
                    degree=float(degree), case=str(case))
    return ds


# --------------------------------------------------------------------------- stores


def size_like(store: str | Path, degree: float | None = None) -> tuple[float, float, float]:
    """Size of the simulated electrode of a sweep store, µm (x, y, z).

    The thickness is the mean ``thickness`` of the finished realisations (all cases) at the
    store's degree nearest to ``degree`` (default 0, the dried electrode). The in-plane size
    is that of the simulation box at that degree, read from the realisations' final states
    in the work directory beside the store (the slurry barostat changes it from the spec's
    box); without a work directory the spec's ``structure.box_um`` is used.

    Parameters
    ----------
    store : str or pathlib.Path
        The sweep's zarr store.
    degree : float, optional
        Compression degree whose electrode sets the size.

    Returns
    -------
    tuple of 3 float
        Lengths in µm.
    """
    from mesosweep.ensemble.spec import is_mesosweep_store

    store = Path(store)
    if not is_mesosweep_store(store):
        raise ValueError(f"{store} is not a mesosweep sweep store (a zarr store that "
                         "`mesosweep run` wrote)")
    ds = xr.open_zarr(store)
    degrees = np.asarray(ds["degree"].values, dtype=float)
    chosen = float(degrees[np.argmin(np.abs(degrees - (0.0 if degree is None else degree)))])
    done = ds["status"] == 2
    thickness = ds["thickness"].sel(degree=chosen).where(done).values
    thickness = thickness[np.isfinite(thickness)]
    if thickness.size == 0:
        raise ValueError(f"{store} has no finished realisation with a thickness at degree "
                         f"{chosen:g}; run the sweep first or give --size-um")
    in_plane = _box_in_plane(store, ds, chosen)
    return (in_plane[0], in_plane[1], float(thickness.mean()))


def _box_in_plane(store: Path, ds: xr.Dataset, degree: float) -> tuple[float, float]:
    from mesosweep.stages.lammps_data import read_data

    work = store.with_name(store.stem + ".work")
    sub = "drying" if degree == 0 else f"calendering-{degree:.4f}"
    boxes = [read_data(p).box_um[:2] for p in sorted(work.glob(f"*/r*/{sub}/state.data"))]
    if boxes:
        mean = np.mean(boxes, axis=0)
        return float(mean[0]), float(mean[1])
    spec = json.loads(ds.attrs["spec"])
    box = spec["structure"]["box_um"]
    return float(box[0]), float(box[1])


def write_xct(ds: xr.Dataset, store: str | Path, *, group: str | None = None,
              overwrite: bool = False) -> str | None:
    """Write the sub-volume dataset into a sweep store's group, or as a store of its own.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`measure_phases` / :func:`measure_file`.
    store : str or pathlib.Path
        A sweep store (the dataset goes into its group ``group``, default ``xct``) or a new
        path (the dataset becomes its root, unless ``group`` is given).
    group : str, optional
        Group name.
    overwrite : bool, default False
        Replace an existing group or store of that name.

    Returns
    -------
    str or None
        The group written (None for the root).
    """
    import zarr

    from mesosweep.ensemble.spec import is_mesosweep_store

    store = Path(store)
    if is_mesosweep_store(store):
        group = group or GROUP
        root = zarr.open_group(str(store), mode="r")
        if group in root and not overwrite:
            raise FileExistsError(f"{store} already holds a group {group!r}; pass overwrite "
                                  "(--overwrite) to replace it")
    elif store.exists() and not overwrite:
        raise FileExistsError(f"{store} exists and is not a sweep store; choose a new path or "
                              "pass overwrite (--overwrite)")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        ds.to_zarr(store, group=group, mode="w", consolidated=True)
    return group


def open_xct(path: str | Path, group: str | None = None) -> xr.Dataset:
    """The sub-volume dataset: ``group`` if given, else group ``xct`` when present, else the root.

    Raises
    ------
    ValueError
        If what is found has no ``subvolume`` dimension.
    """
    import zarr

    path = Path(path)
    if group is None:
        root = zarr.open_group(str(path), mode="r")
        group = GROUP if GROUP in root else None
    ds = xr.open_zarr(path, group=group)
    if "subvolume" not in ds.dims:
        raise ValueError(f"{path}{'/' + group if group else ''} holds no XCT sub-volumes "
                         "(no 'subvolume' dimension); write them with `mesosweep xct measure`")
    return ds


def _as_list(labels: int | Sequence[int] | None) -> list[int] | None:
    if labels is None:
        return None
    return [int(labels)] if np.ndim(labels) == 0 else [int(v) for v in labels]
