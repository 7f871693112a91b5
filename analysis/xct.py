"""Experimental side of the comparison: the metrics of random sub-volumes of an XCT phase image.

Arrays in, a dataset out, nothing read or written (:mod:`ensemble.xct_store` reads volume
files and keeps the result in a sweep store's ``xct`` group).

Pipeline (:func:`measure_phases`)
---------------------------------
1. Check the request against the phase image (``PORE`` / ``AM`` / ``CBD``, z through-plane)
   before any work: the sub-volume fits, AM and a conducting phase (pore or CBD) are present,
   and without overlap the sub-volumes fit.
2. Draw ``n`` seeded origins (:func:`analysis.subvolumes.sample_origins`).
3. For each sub-volume: separate the AM phase into secondary particles with the
   distance-transform watershed of the particle database (:func:`analysis.separation.
   separate_particles`) on the sub-volume grown by a margin (so particles near its faces
   are cut with their surroundings in view), crop back, and drop the particles that touch a
   face of the sub-volume (they are cut, so their shape is not theirs); then
   :func:`analysis.summary.electrode_metrics` — the very function the simulations are
   measured with — gives every metric under the simulation side's names and units.
4. Mark the sub-volume closest to the mean porosity and through-plane tortuosity factor
   (:func:`analysis.subvolumes.closest_to_mean`), as the paper picked one.

The dataset
-----------
Dims ``subvolume`` plus the metrics' own (``z_norm``, ``pore_radius_bin`` …, declared in
:data:`analysis.metric_table.METRICS`); histogram bins carry CF bounds variables
``<dim>_bounds`` (bin edges, shape (n, 2)). Extra variables: ``origin`` and ``origin_um`` (lower
corner of each sub-volume), ``representative`` (1 for the sub-volume closest to the mean).
Attributes record the voxel size, sub-volume size, seed and watershed settings
(:func:`ensemble.xct_store.measure_file` adds the source, labels and the compression
``degree`` that the imaged electrode corresponds to).

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

import numpy as np
import xarray as xr

from mesosweep.analysis.metric_table import CONVENTIONS, Metric, metrics_table
from mesosweep.analysis.phases import AM, CBD, PORE
from mesosweep.analysis.separation import separate_particles
from mesosweep.analysis.subvolumes import (
    capacity_without_overlap,
    closest_to_mean,
    cut,
    sample_origins,
    subvolume_shape,
)
from mesosweep.analysis.summary import electrode_metrics

__all__ = [
    "MARGIN_UM",
    "REPRESENTATIVE_BY",
    "check_request",
    "measure_phases",
    "metrics_dataset",
    "particle_image",
]

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
    if any(s > v for s, v in zip(sub_shape, vol, strict=True)):
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
    o = np.asarray(origin, dtype=np.int64)
    s = np.asarray(sub_shape, dtype=np.int64)
    lo = np.maximum(o - margin_vox, 0)
    hi = np.minimum(o + s + margin_vox, phases.shape)
    grown = phases[tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))]
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
                {"long_name": "sub-volume origin", "units": "voxel",
                 "description": "lower corner of the sub-volume in the volume "
                 "(after moving the through-plane axis to z)"}),
        origin_um=(("subvolume", "axis"), origins * float(voxel_size_um),
                   {"long_name": "sub-volume origin", "units": "um",
                    "description": "lower corner of the sub-volume"}),
    ).assign_coords(axis=("axis", np.array(["x", "y", "z"], dtype=object),
                          {"long_name": "axis", "description": "axis of the volume, z "
                           "through-plane"}))
    by = np.column_stack([ds[m].values for m in REPRESENTATIVE_BY])
    best = closest_to_mean(by)
    flag = np.zeros(n, dtype=np.int8)
    flag[best] = 1
    ds["representative"] = xr.Variable(
        "subvolume", flag, {"long_name": "representative sub-volume",
                            "flag_values": [0, 1], "flag_meanings": "other representative",
                            "description": "1 for the sub-volume closest to the mean of "
                            + " and ".join(REPRESENTATIVE_BY) + " (each divided by its sd)"})
    ds.attrs.update(
        Conventions=CONVENTIONS,
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


def metrics_dataset(records: list[dict], table: dict[str, Metric]) -> xr.Dataset:
    """Stack per-sub-volume metric dicts into a dataset shaped by a metrics table.

    Parameters
    ----------
    records : list of dict
        One :func:`analysis.summary.electrode_metrics` result per sub-volume.
    table : dict of str to analysis.metric_table.Metric
        The declaration (:func:`analysis.metric_table.metrics_table`).

    Returns
    -------
    xarray.Dataset
        One variable per metric with dims ``("subvolume", *metric.dims)`` and the units and
        description of the table; coordinates with units, and bin edges in CF bounds
        variables ``<dim>_bounds`` (:meth:`analysis.metric_table.Coordinate.variables`).
    """
    n = len(records)
    data, coords = {}, {"subvolume": ("subvolume", np.arange(n),
                                      {"long_name": "sub-volume", "units": "1",
                                       "description": "index of the random sub-volume"})}
    for name, metric in table.items():
        values = np.stack([np.asarray(r[name], dtype=float).reshape(metric.shape)
                           for r in records]) if n else np.zeros((0, *metric.shape))
        data[name] = xr.Variable(("subvolume", *metric.dims), values,
                                 {"long_name": metric.long_name, "units": metric.units,
                                  "description": metric.description})
        for dim in metric.dims:
            coords.update(metric.coords[dim].variables(dim))
    return xr.Dataset(data, coords=coords)
