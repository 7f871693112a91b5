"""A realisation's electrode at one state, in the forms other tools read.

:func:`export_state` writes, into one folder:

- ``phase.tif`` / ``phase.npy``: the labelled voxel image, 0 pore, 1 AM, 2 CBD
  (:func:`stages.measure.voxel_images`, the image the metrics were measured on);
  ``particles.tif`` / ``particles.npy``: the secondary particle id of each AM voxel, 0
  elsewhere. The ``.npy`` arrays are indexed ``[x, y, z]`` (z through-plane, the current
  collector at z = 0), as mesosweep's analysis reads them; the TIFF stacks hold one page per z
  slice, each page ``[y, x]``, with the voxel size in ImageJ's metadata (µm), as Fiji, napari or
  a transport code reads a tomogram.
- ``pore_network.csv`` / ``pore_network.npz``: the pore network of :mod:`analysis.pore_network`
  (the image's pore space, CBD counted as the sweep's ``analysis.cbd_as`` says) under
  OpenPNM's property names, in SI units as OpenPNM's models expect: ``pore.coords`` (m, the
  centroid of each pore's voxels), ``pore.diameter`` (m, twice the volume-equivalent radius),
  ``pore.volume`` (m³), ``throat.conns`` (the two pores, 0-based), ``throat.diameter`` (m,
  twice the area-equivalent radius), ``throat.cross_sectional_area`` (m²). The CSV is the
  layout of OpenPNM's ``network_to_csv``: one column per property and component
  (``pore.coords[0]`` …), pore and throat columns side by side, the shorter left empty below
  its end; ``openpnm.io.network_from_csv`` reads it. The ``.npz`` holds the same arrays under
  the same names (``op.network.Network(coords=..., conns=...)`` then ``update`` the rest).
- ``dump/<stage>.dump``: the final beads of each stage that led to the state (the structure, the
  slurry, the drying, and for a calendered state its pressing and release), as LAMMPS
  ``write_dump … custom`` text that OVITO reads: ``id type mol x y z ix iy iz radius`` with
  the stage's box and boundary.
- ``export.json``: what was exported, from where, the labels, units and axes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from mesosweep.analysis.metric_table import RADIUS_THRESHOLD_UM
from mesosweep.analysis.phases import AM, CBD, PORE
from mesosweep.analysis.pore_network import PoreNetwork, pore_network
from mesosweep.analysis.porosity import electrode_thickness
from mesosweep.ensemble.layout import RealisationLayout, stage_label
from mesosweep.stages.lammps_data import BeadState, read_data
from mesosweep.stages.measure import voxel_images
from mesosweep.stages.protocol import input_file

__all__ = ["export_state", "pore_network_table", "stage_chain", "write_dump"]

LABELS = {PORE: "pore", AM: "AM", CBD: "CBD"}
UM = 1e-6  # m per µm: OpenPNM's properties are SI
IMAGEJ_DTYPES = (np.uint8, np.uint16)  # ids beyond 65535 go into a plain (non-ImageJ) TIFF


def stage_chain(degree: float) -> list[tuple[str, float | None]]:
    """The stages whose final beads lead to the state at ``degree`` (0: the dried film)."""
    chain: list[tuple[str, float | None]] = [("structure", None), ("slurry", None),
                                             ("drying", None)]
    if degree != 0:
        chain += [("pressing", degree), ("calendering", degree)]
    return chain


def write_dump(state: BeadState, path: Path, timestep: int = 0,
               boundary: tuple[str, str, str] = ("pp", "pp", "pp")) -> Path:
    """``state`` as one snapshot of a LAMMPS custom dump (``id type mol x y z ix iy iz radius``,
    µm), the text that ``write_dump all custom`` writes and OVITO reads; ids are the beads'
    order in the data file, from 1."""
    rows = np.column_stack([np.arange(1, state.n + 1), state.type, state.molecule,
                            state.position_um, state.image, state.diameter_um / 2])
    head = ["ITEM: TIMESTEP", str(int(timestep)), "ITEM: NUMBER OF ATOMS", str(state.n),
            f"ITEM: BOX BOUNDS {' '.join(boundary)}"]
    head += [f"{float(lo)!r} {float(hi)!r}"
             for lo, hi in zip(state.box_lo, state.box_hi, strict=True)]
    head.append("ITEM: ATOMS id type mol x y z ix iy iz radius")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="ascii") as fh:
        fh.write("\n".join(head) + "\n")
        np.savetxt(fh, rows, fmt=["%d"] * 3 + ["%.10g"] * 3 + ["%d"] * 3 + ["%.10g"])
    return path


def _boundary(stage_dir: Path, stage: str) -> tuple[str, str, str]:
    """The stage's ``boundary`` as a dump's box-bounds flags (``p f`` -> ``pp ff``)."""
    try:
        text = (stage_dir / input_file(stage)).read_text()
    except OSError:
        text = ""
    found = re.search(r"^boundary\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    flags = found.groups() if found else ("p", "p", "f")
    return tuple(f * 2 if len(f) == 1 else f for f in flags)  # type: ignore[return-value]


def _timestep(state_file: Path) -> int:
    """The timestep LAMMPS wrote in a data file's title (0 when it names none)."""
    with state_file.open(encoding="utf-8", errors="replace") as fh:
        found = re.search(r"timestep = (\d+)", fh.readline())
    return int(found.group(1)) if found else 0


def pore_network_table(network: PoreNetwork, voxel_size_um: float) -> dict[str, np.ndarray]:
    """The network's pores and throats under OpenPNM's property names, in SI units."""
    n = len(network.radius_um)
    count = np.bincount(network.regions.ravel(), minlength=n + 1)[1:].astype(float)
    coords = np.zeros((n, 3))
    for axis in range(3):  # centroid of each pore's voxels (voxel centres), per axis
        where = np.indices(network.regions.shape, sparse=True)[axis]
        total = np.bincount(network.regions.ravel(),
                            weights=np.broadcast_to(where, network.regions.shape).ravel(),
                            minlength=n + 1)[1:]
        coords[:, axis] = (total / np.maximum(count, 1) + 0.5) * voxel_size_um
    return {
        "pore.coords": coords * UM,
        "pore.diameter": 2 * network.radius_um * UM,
        "pore.volume": network.volume_um3 * UM**3,
        "throat.conns": network.throat_pores.astype(np.int64),
        "throat.diameter": 2 * network.throat_radius_um * UM,
        "throat.cross_sectional_area": network.throat_area_um2 * UM**2,
    }


def _write_openpnm_csv(table: dict[str, np.ndarray], path: Path) -> None:
    """OpenPNM's CSV layout: a column per property (per component of a 2-D one, ``name[k]``),
    rows up to the larger of pores and throats, the shorter columns empty below their end."""
    columns: list[tuple[str, np.ndarray]] = []
    for name, values in table.items():
        if values.ndim == 1:
            columns.append((name, values))
        else:
            columns += [(f"{name}[{k}]", values[:, k]) for k in range(values.shape[1])]
    rows = max(len(v) for _, v in columns)
    with path.open("w", encoding="ascii") as fh:
        fh.write(",".join(name for name, _ in columns) + "\n")
        for r in range(rows):
            fh.write(",".join(
                ("" if r >= len(v) else str(int(v[r])) if v.dtype.kind in "iu" else repr(
                    float(v[r]))) for _, v in columns) + "\n")


def _write_image(array: np.ndarray, stem: Path, voxel_size_um: float) -> list[Path]:
    """``stem.npy`` ([x, y, z]) and ``stem.tif`` (a page per z slice, ImageJ's voxel size)."""
    np.save(stem.with_suffix(".npy"), array)
    pages = np.ascontiguousarray(array.transpose(2, 1, 0))  # (z, y, x)
    tif = stem.with_suffix(".tif")
    if array.dtype.type in IMAGEJ_DTYPES:
        tifffile.imwrite(tif, pages, imagej=True,
                         resolution=(1 / voxel_size_um, 1 / voxel_size_um),
                         metadata={"spacing": voxel_size_um, "unit": "um", "axes": "ZYX"})
    else:
        tifffile.imwrite(tif, pages)
    return [stem.with_suffix(".npy"), tif]


def export_state(real: RealisationLayout, degree: float, out_dir: Path, voxel_size_um: float,
                 cbd_as: str, source: dict[str, Any] | None = None) -> list[Path]:
    """Write the realisation's electrode at ``degree`` (see the module) into ``out_dir``;
    returns the files written. Raises FileNotFoundError naming a state file that is missing
    (a stage that has not run, or a work folder that was cleaned)."""
    chain = stage_chain(degree)
    for stage, deg in chain:
        if not real.state_file(stage, deg).is_file():
            raise FileNotFoundError(f"{real.state_file(stage, deg)} is missing: the "
                                    f"{stage_label(stage, deg)} stage of {real.label} has not "
                                    "finished (or its work folder was cleaned)")
    state = read_data(real.final_state(degree))
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    phase, particles = voxel_images(state, voxel_size_um)
    phase = phase.astype(np.uint8)
    ids = particles.astype(np.uint16 if particles.max(initial=0) <= np.iinfo(np.uint16).max
                           else np.uint32)
    written += _write_image(phase, out_dir / "phase", voxel_size_um)
    written += _write_image(ids, out_dir / "particles", voxel_size_um)

    # The pore space as the metrics saw it: the electrode's layers, CBD per cbd_as.
    thickness = electrode_thickness(phase, voxel_size_um)
    region = phase[..., : max(1, round(thickness / voxel_size_um))]
    pore = region != AM if cbd_as == "pore" else region == PORE
    network = pore_network(pore, voxel_size_um, height_um=thickness,
                           radius_threshold_um=RADIUS_THRESHOLD_UM)
    table = pore_network_table(network, voxel_size_um)
    np.savez(out_dir / "pore_network.npz", **table)
    _write_openpnm_csv(table, out_dir / "pore_network.csv")
    written += [out_dir / "pore_network.npz", out_dir / "pore_network.csv"]

    dumps = {}
    for stage, deg in chain:
        name = stage_label(stage, deg)
        state_file = real.state_file(stage, deg)
        dumps[name] = write_dump(read_data(state_file), out_dir / "dump" / f"{name}.dump",
                                 _timestep(state_file),
                                 _boundary(real.stage_dir(stage, deg), stage))
    written += list(dumps.values())

    meta = {
        **(source or {}), "realisation_label": real.label, "degree": float(degree),
        "state_file": str(real.final_state(degree)),
        "voxel_size_um": float(voxel_size_um), "shape_xyz": list(phase.shape),
        "labels": {str(k): v for k, v in LABELS.items()},
        "axes": {"npy": "[x, y, z]", "tif": "pages z, each [y, x]",
                 "z": "through-plane, current collector at z = 0"},
        "cbd_as": cbd_as, "thickness_um": thickness,
        "pore_network": {"pores": int(len(network.radius_um)),
                         "throats": int(len(network.throat_radius_um)), "units": "SI (m)",
                         "openpnm": "openpnm.io.network_from_csv('pore_network.csv')"},
        "dumps": {k: str(v.relative_to(out_dir)) for k, v in dumps.items()},
        "dump_columns": "id type mol x y z ix iy iz radius (um); type 1 AM, 2 CBD",
    }
    (out_dir / "export.json").write_text(json.dumps(meta, indent=1))
    return [*written, out_dir / "export.json"]
