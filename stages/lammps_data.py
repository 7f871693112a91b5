"""Bead configurations and the LAMMPS data files that carry them between stages.

Atom style ``hybrid sphere 1 bond``: a data-file atom line is
``id type x y z diameter density molecule ix iy iz``. Atom type 1 is AM (primary beads),
type 2 is CBD; molecule id is the secondary-particle id (0 for CBD). Bonds hold the primaries
of one secondary together: type 1 between face neighbours of the bead lattice, type 2 between
edge neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from mesosweep.analysis.phases import AM, CBD

AM_TYPE, CBD_TYPE = 1, 2
PHASE_OF_TYPE = {AM_TYPE: AM, CBD_TYPE: CBD}
TYPE_MATERIAL = {AM_TYPE: "am", CBD_TYPE: "cbd"}
FACE_BOND, EDGE_BOND = 1, 2


@dataclass(frozen=True)
class BeadState:
    """A bead configuration: µm, g/cm³, box from ``box_lo`` to ``box_hi``."""

    box_lo: np.ndarray
    box_hi: np.ndarray
    type: np.ndarray
    position_um: np.ndarray
    diameter_um: np.ndarray
    density_g_cm3: np.ndarray
    molecule: np.ndarray
    image: np.ndarray
    bonds: np.ndarray  # (M, 3): bond type, bead index a, bead index b (0-based)

    @property
    def n(self) -> int:
        return len(self.type)

    @property
    def box_um(self) -> np.ndarray:
        return self.box_hi - self.box_lo

    @property
    def phase(self) -> np.ndarray:
        return np.where(self.type == AM_TYPE, AM, CBD).astype(np.int8)

    @property
    def mass_pg(self) -> np.ndarray:
        return self.density_g_cm3 * np.pi / 6.0 * self.diameter_um**3

    def unwrapped(self) -> np.ndarray:
        """Positions with periodic image flags applied (µm)."""
        return self.position_um + self.image * self.box_um

    def with_(self, **changes) -> BeadState:
        return replace(self, **changes)


def lattice_bonds(position_um: np.ndarray, molecule: np.ndarray, spacing_um: float) -> np.ndarray:
    """Bonds between face (distance s) and edge (s·√2) neighbours of one secondary's bead lattice.

    Face neighbours alone leave a cubic lattice free to shear; edge bonds make it rigid.
    """
    am = np.flatnonzero(molecule > 0)
    if len(am) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    tree = cKDTree(position_um[am])
    pairs = tree.query_pairs(1.2 * spacing_um * np.sqrt(2.0), output_type="ndarray")
    a, b = am[pairs[:, 0]], am[pairs[:, 1]]
    same = molecule[a] == molecule[b]
    a, b = a[same], b[same]
    dist = np.linalg.norm(position_um[a] - position_um[b], axis=1)
    kind = np.where(dist < 1.2 * spacing_um, FACE_BOND, EDGE_BOND)
    order = np.lexsort((b, a))
    return np.stack([kind[order], a[order], b[order]], axis=1).astype(np.int64)


def write_data(state: BeadState, path: Path, title: str = "mesosweep", digits: int = 10) -> Path:
    """Write ``state`` as a LAMMPS data file for ``atom_style hybrid sphere 1 bond``.

    ``digits`` significant digits per value; 17 keeps every bit of a double, so that
    :func:`read_data` gives back exactly the state written (a hand-over between stages).
    """
    n, m = state.n, len(state.bonds)
    per_atom = np.bincount(state.bonds[:, 1:].ravel(), minlength=n).max() if m else 0
    lines = [f"LAMMPS data file: {title}", "",
             f"{n} atoms", f"{m} bonds", "2 atom types", "2 bond types",
             f"{int(per_atom) + 2} extra bond per atom", ""]
    for axis, name in enumerate("xyz"):
        lines.append(f"{state.box_lo[axis]:.{digits}g} {state.box_hi[axis]:.{digits}g} "
                     f"{name}lo {name}hi")
    lines += ["", "Atoms # hybrid", ""]
    body = np.column_stack([
        np.arange(1, n + 1), state.type, state.position_um, state.diameter_um,
        state.density_g_cm3, state.molecule, state.image,
    ])
    real = f"%.{digits}g"
    fmt = f"%d %d {real} {real} {real} {real} {real} %d %d %d %d"
    text = "\n".join(lines) + "\n" + "\n".join(fmt % tuple(row) for row in body) + "\n"
    if m:
        bonds = np.column_stack([np.arange(1, m + 1), state.bonds[:, 0], state.bonds[:, 1:] + 1])
        text += "\nBonds\n\n" + "\n".join(f"{a:d} {b:d} {c:d} {d:d}" for a, b, c, d in bonds) + "\n"
    path.write_text(text)
    return path


def _sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {"header": []}
    current = "header"
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word = line.split()[0]
        if word in ("Atoms", "Velocities", "Bonds", "Masses", "Ellipsoids"):
            current = word
            sections[current] = []
        else:
            sections[current].append(line)
    return sections


def read_data(path: Path) -> BeadState:
    """Read a data file written by LAMMPS ``write_data`` (or :func:`write_data`)."""
    sec = _sections(Path(path).read_text())
    lo, hi = np.zeros(3), np.zeros(3)
    for line in sec["header"]:
        parts = line.split()
        for axis, name in enumerate("xyz"):
            if parts[-2:] == [f"{name}lo", f"{name}hi"]:
                lo[axis], hi[axis] = float(parts[0]), float(parts[1])
    atoms = np.array([ln.split() for ln in sec.get("Atoms", [])], dtype=float).reshape(-1, 11)
    atoms = atoms[np.argsort(atoms[:, 0])]
    index_of_id = {int(i): k for k, i in enumerate(atoms[:, 0])}
    bonds = np.zeros((0, 3), dtype=np.int64)
    if sec.get("Bonds"):
        raw = np.array([ln.split() for ln in sec["Bonds"]], dtype=np.int64)
        bonds = np.column_stack([raw[:, 1], [index_of_id[i] for i in raw[:, 2]],
                                 [index_of_id[i] for i in raw[:, 3]]]).astype(np.int64)
    return BeadState(
        box_lo=lo, box_hi=hi, type=atoms[:, 1].astype(np.int64),
        position_um=atoms[:, 2:5].copy(), diameter_um=atoms[:, 5].copy(),
        density_g_cm3=atoms[:, 6].copy(), molecule=atoms[:, 7].astype(np.int64),
        image=atoms[:, 8:11].astype(np.int64), bonds=bonds,
    )
