"""What a stage's LAMMPS run did, read from the files it leaves in its stage directory.

A site's LAMMPS executable runs a stage's input as plain ``lmp -in in.<stage>.lammps`` (no
Python inside the ranks), so the driver side builds the stage's ``result.json`` from what that
run wrote: ``log.lammps`` (LAMMPS's version, the MPI processor grid, thermo rows, the input
lines it executed, the input's final ``print`` of the stage's steps, an ``ERROR`` line) and
the ``converge-<name>.txt`` files of its convergence loops. The Python runner
(:mod:`mesosweep.stages.runner`) reads the same from the library instead; both judge the final
thermo and a LAMMPS error through :func:`check_thermo` and :func:`failure_reason`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mesosweep.errors import StageError
from mesosweep.stages.protocol import Converge, Protocol, history_file

__all__ = ["THERMO_KEYS", "WATCHDOG", "LammpsLog", "check_thermo", "converge_record",
           "done_result", "error_step", "failed_result", "failure_reason", "read_history",
           "read_log"]

#: Thermo keywords a result keeps, as the runner names them (``lmp.get_thermo``).
THERMO_KEYS = ("step", "atoms", "ke", "pe", "press", "vol", "density", "lx", "ly", "lz")
# The same columns as the log's thermo header names them.
_HEADER = {"Step": "step", "Atoms": "atoms", "KinEng": "ke", "PotEng": "pe", "Press": "press",
           "Volume": "vol", "Density": "density", "Lx": "lx", "Ly": "ly", "Lz": "lz"}
# ID of the protocol's blow-up watchdog (a ``fix halt``, stages.inputs.watchdog_commands); its
# LAMMPS error names it, and the failure then says what it checks.
WATCHDOG = "blowup"

_VERSION = re.compile(r"LAMMPS \((\d{1,2} \w{3} \d{4})")
_GRID = re.compile(r"^\s*(\d+) by (\d+) by (\d+) MPI processor grid", re.M)
_STEPS = re.compile(r"^mesosweep stage \S+: (?:(\d+) steps|no run)\s*$", re.M)
_STEP_IN_ERROR = re.compile(r"\bon step (\d+)\b")


def read_history(directory: Path, block: Converge) -> list[tuple[int, float]]:
    """Each check of convergence run ``block``: the steps it had run, the watched value (its
    history file, one ``steps value`` line per check)."""
    lines = (directory / history_file(block.name)).read_text().splitlines()
    return [(int(words[0]), float(words[1])) for words in
            (line.split() for line in lines if line.strip() and not line.startswith("#"))]


def converge_record(directory: Path, block: Converge, stage: str, converged: bool,
                    steps: int | None, thermo: dict[str, float]) -> dict:
    """What convergence run ``block`` did (its checks from its history file, its verdict and
    its steps; None: those of its last check), as ``result.json`` records it;
    :class:`StageError` if a check was not finite."""
    checks = read_history(directory, block)
    history = [value for _, value in checks]
    if steps is None:
        steps = checks[-1][0] if checks else 0
    if not all(math.isfinite(v) for v in history):
        raise StageError(stage, f"non-finite {block.variable}", step=int(thermo.get("step", -1)),
                         thermo=thermo)
    return {"variable": block.variable, "converged": converged, "steps": steps,
            "check_steps": block.check_steps, "tolerance": block.tolerance, "history": history}


def done_result(protocol: Protocol, *, ranks: int, world_size: int, steps: int, wall_s: float,
                converge: dict[str, dict], thermo: dict[str, float], version: int) -> dict:
    """``result.json`` of a stage that finished: steps, wall time (s), throughput, checks."""
    return {"stage": protocol.stage, "status": "done", "atoms": protocol.atoms, "ranks": ranks,
            "lammps_world_size": world_size, "steps": steps, "wall_s": wall_s,
            "atom_steps_per_s": protocol.atoms * steps / wall_s if wall_s > 0 else 0.0,
            "converge": converge, "final_thermo": thermo, "lammps_version": version}


def failed_result(protocol: Protocol, exc: StageError, converge: dict[str, dict]) -> dict:
    """``result.json`` of a stage that failed: the error, its step and last thermo values."""
    return {"stage": protocol.stage, "status": "failed", "error": str(exc), "reason": exc.reason,
            "step": exc.step, "last_thermo": exc.thermo, "converge": converge}


def check_thermo(thermo: dict[str, float], stage: str, expected_atoms: int) -> dict[str, float]:
    """``thermo`` if the system is whole: finite energies and pressure, no bead lost; else
    :class:`StageError` naming what is wrong, at its step."""
    step = int(thermo.get("step", -1))
    for key in ("ke", "pe", "press"):
        if key in thermo and not math.isfinite(thermo[key]):
            raise StageError(stage, f"non-finite {key}", step=step, thermo=thermo)
    if int(thermo.get("atoms", expected_atoms)) != expected_atoms:
        raise StageError(stage, f"lost atoms: {int(thermo['atoms'])} of {expected_atoms} remain",
                         step=step, thermo=thermo)
    return thermo


def failure_reason(error: str) -> str:
    """The reason a failed run records, from LAMMPS's error text (its first line, the
    ``ERROR`` line; the rest is a link to the manual); the watchdog's halt is a blow-up."""
    reason = (error.strip().splitlines() or [""])[0]
    if f"fix-id {WATCHDOG} " in reason:
        reason = f"blow-up: non-finite energy or lost atoms ({reason})"
    return reason


@dataclass(frozen=True)
class LammpsLog:
    """What ``log.lammps`` says about a run (:func:`read_log`)."""

    version: int  # LAMMPS's release as a date number, 20250722; 0 when not found
    world_size: int  # MPI ranks (the product of the processor grid); 0 before any box
    steps: int | None  # the stage's own steps from the input's final print; None: not reached
    thermo: dict[str, float] = field(default_factory=dict)  # the last thermo row
    error: str | None = None  # the ERROR line, when LAMMPS stopped on one
    executed: frozenset[str] = frozenset()  # every input line LAMMPS echoed, as it ran it

    def converged(self, block: Converge) -> bool:
        """Whether convergence run ``block`` stopped settled: LAMMPS echoes the command its
        ``if`` executes, and the loop sets its flag to 1 only when the rule judged it settled."""
        return f"variable {block.var('converged')} equal 1" in self.executed


def _version(text: str) -> int:
    match = _VERSION.search(text)
    if match is None:
        return 0
    return int(datetime.strptime(match.group(1), "%d %b %Y").strftime("%Y%m%d"))


def _last_thermo(lines: list[str]) -> dict[str, float]:
    """The last row under a thermo header (``Step Atoms KinEng …``), by :data:`THERMO_KEYS`."""
    header: list[str] = []
    row: dict[str, float] = {}
    for line in lines:
        words = line.split()
        if words[:1] == ["Step"]:
            header = words
            continue
        if not header or len(words) != len(header):
            continue
        try:
            values = [float(w) for w in words]
        except ValueError:
            continue
        row = {_HEADER[h]: v for h, v in zip(header, values, strict=True) if h in _HEADER}
    return row


def read_log(path: Path) -> LammpsLog:
    """Read a stage's ``log.lammps`` (an absent file reads as a run that never started)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return LammpsLog(version=0, world_size=0, steps=None)
    lines = text.splitlines()
    grids = _GRID.findall(text)
    world = math.prod(int(n) for n in grids[-1]) if grids else 0
    steps_match = _STEPS.findall(text)
    steps = int(steps_match[-1] or 0) if steps_match else None
    error = next((line.strip() for line in reversed(lines) if line.startswith("ERROR")), None)
    return LammpsLog(version=_version(text), world_size=world, steps=steps,
                     thermo=_last_thermo(lines), error=error,
                     executed=frozenset(line.strip() for line in lines))


def error_step(log: LammpsLog) -> int:
    """The step a failed run stopped at: the one its error names, else its last thermo row's."""
    match = _STEP_IN_ERROR.search(log.error or "")
    return int(match.group(1)) if match else int(log.thermo.get("step", -1))
