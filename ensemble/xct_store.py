"""The XCT sub-volumes beside a sweep's store: read a volume file, measure it, keep the result.

:func:`measure_file` reads a volume (any format of :mod:`stages.xct_io`), moves its
through-plane axis to z, maps labels (or a grey threshold) to ``PORE`` / ``AM`` / ``CBD`` and
hands the phase image to :func:`analysis.xct.measure_phases` (loaded only then: it needs
scikit-image). :func:`write_xct` keeps the dataset as the group ``xct`` of a sweep store, or at
the root of a store of its own; :func:`open_xct` reads it back (``xr.open_zarr(path,
group="xct")`` does too). :func:`size_like` gives the size of a sweep's simulated electrode,
from the final states that :func:`final_state_file` finds in its work folder.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from mesosweep.analysis.phases import AM, CBD, PORE
from mesosweep.ensemble.layout import SweepLayout
from mesosweep.ensemble.spec import is_mesosweep_store
from mesosweep.stages.lammps_data import read_data
from mesosweep.stages.particles import array_sha256
from mesosweep.stages.xct_io import labels_to_phases, read_volume, through_plane_last

__all__ = ["GROUP", "final_state_file", "measure_file", "open_xct", "size_like", "write_xct"]

#: Group of a sweep store that holds the experimental sub-volumes.
GROUP = "xct"

Log = Callable[[str], None]


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
        Passed to :func:`analysis.xct.measure_phases` (``n``, ``seed``, ``overlap``, ...).

    Returns
    -------
    xarray.Dataset
        :func:`analysis.xct.measure_phases`'s dataset with the source recorded.
    """
    # The sub-volume metrics need scikit-image: loaded when a volume is measured, not before.
    from mesosweep.analysis.xct import measure_phases  # noqa: PLC0415

    say = log or (lambda line: None)
    if not (np.isfinite(voxel_size_um) and voxel_size_um > 0):
        raise ValueError(f"voxel_size_um must be > 0 (µm), got {voxel_size_um!r}")
    margin = options.get("margin_um", 0.0)
    if not (np.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin_um must be a finite length >= 0 (µm), got {margin!r}")
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


def final_state_file(store: str | Path, case: str, realisation: int, degree: float) -> Path:
    """The final beads of a realisation at a compression degree (0: the dried electrode)."""
    return SweepLayout(Path(store)).realisation(case, realisation).final_state(degree)


def _box_in_plane(store: Path, ds: xr.Dataset, degree: float) -> tuple[float, float]:
    files = [final_state_file(store, str(case), int(r), degree)
             for case in ds["case"].values for r in ds["realisation"].values]
    boxes = [read_data(p).box_um[:2] for p in sorted(f for f in files if f.is_file())]
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
        From :func:`analysis.xct.measure_phases` / :func:`measure_file`.
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
