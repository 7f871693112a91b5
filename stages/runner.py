"""Execute a stage's protocol with LAMMPS under MPI: ``mpiexec -n N python -P -m mesosweep.stages.runner DIR``.

Every rank drives one LAMMPS instance on ``MPI.COMM_WORLD``; rank 0 writes ``result.json``
(steps, wall time, throughput, convergence history, final thermo, or the failure with its step
and last thermo line). A blow-up (lost atoms, non-finite energy) stops the run within
``WATCHDOG_EVERY`` steps, whatever the protocol's thermo or convergence intervals.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from mesosweep.stages.lammps_env import new_lammps, preload_mpi
from mesosweep.stages.protocol import LOG_FILE, RESULT_FILE, Commands, Converge, Protocol

THERMO_KEYS = ("step", "atoms", "ke", "pe", "press", "vol", "density", "lx", "ly", "lz")
# ID of the protocol's blow-up watchdog (a ``fix halt``, stages.inputs.watchdog_commands); its
# LAMMPS error names it, and the failure then says what it checks.
WATCHDOG = "blowup"
WATCHDOG_EVERY = 100  # steps between its checks: a blow-up stops the run within them


class StageFailure(RuntimeError):
    """LAMMPS failed or the system blew up; carries the step and the last thermo values."""

    def __init__(self, stage: str, step: int, thermo: dict[str, float], reason: str):
        self.stage, self.step, self.thermo, self.reason = stage, step, thermo, reason
        line = " ".join(f"{k}={v:.6g}" for k, v in thermo.items())
        super().__init__(f"stage {stage} failed at step {step}: {reason} (last thermo: {line})")


def _thermo(lmp: Any) -> dict[str, float]:
    out = {}
    for key in THERMO_KEYS:
        try:
            out[key] = float(lmp.get_thermo(key))
        except Exception:  # a keyword this LAMMPS cannot evaluate before a run; leave it out
            continue
    return out


def _check_finite(lmp: Any, stage: str, expected_atoms: int) -> dict[str, float]:
    thermo = _thermo(lmp)
    step = int(thermo.get("step", -1))
    for key in ("ke", "pe", "press"):
        if key in thermo and not math.isfinite(thermo[key]):
            raise StageFailure(stage, step, thermo, f"non-finite {key}")
    if int(thermo.get("atoms", expected_atoms)) != expected_atoms:
        raise StageFailure(stage, step, thermo,
                           f"lost atoms: {int(thermo['atoms'])} of {expected_atoms} remain")
    return thermo


def _converge(lmp: Any, block: Converge, stage: str, atoms: int, first_run: bool) -> dict:
    history: list[float] = []
    steps = 0
    calm = 0
    converged = False
    while steps < block.max_steps:
        n = min(block.check_steps, block.max_steps - steps)
        lmp.command(f"run {n} pre {'yes' if first_run else 'no'} post no")
        first_run = False
        steps += n
        _check_finite(lmp, stage, atoms)
        value = float(lmp.extract_variable(block.variable))
        if not math.isfinite(value):
            raise StageFailure(stage, int(lmp.get_thermo("step")), _thermo(lmp),
                               f"non-finite {block.variable}")
        if history:
            change = abs(value - history[-1]) / max(abs(history[-1]), 1e-300)
            calm = calm + 1 if change < block.tolerance else 0
        history.append(value)
        if calm >= block.patience and steps >= block.min_steps:
            converged = True
            break
    return {"variable": block.variable, "converged": converged, "steps": steps,
            "check_steps": block.check_steps, "tolerance": block.tolerance, "history": history}


def execute(directory: Path, comm: Any) -> dict:
    """Run the protocol in ``directory`` on ``comm``; returns the result (on every rank)."""
    protocol = Protocol.read(directory)
    lmp = new_lammps(comm, log_path=directory / LOG_FILE)
    started = time.perf_counter()
    run_steps = 0
    converge: dict[str, dict] = {}
    try:
        for block in protocol.blocks:
            if isinstance(block, Commands):
                for line in block.lines:
                    if line.split()[:1] != ["run"]:
                        lmp.command(line)
                        continue
                    # Steps of this run alone: a stage read from a restart continues its count.
                    before = int(lmp.extract_global("ntimestep"))
                    lmp.command(line)
                    run_steps += int(lmp.extract_global("ntimestep")) - before
                    _check_finite(lmp, protocol.stage, protocol.atoms)
            else:
                info = _converge(lmp, block, protocol.stage, protocol.atoms, first_run=True)
                run_steps += info["steps"]
                converge[block.name] = info
        wall = time.perf_counter() - started
        result = {
            "stage": protocol.stage, "status": "done", "atoms": protocol.atoms,
            "ranks": comm.Get_size() if comm is not None else 1,
            "lammps_world_size": int(lmp.extract_setting("world_size")),
            "steps": run_steps, "wall_s": wall,
            "atom_steps_per_s": protocol.atoms * run_steps / wall if wall > 0 else 0.0,
            "converge": converge, "final_thermo": _thermo(lmp),
            "lammps_version": int(lmp.version()),
        }
    except Exception as exc:  # ours, or LAMMPS's plain Exception carrying its ERROR line
        if not isinstance(exc, StageFailure):
            thermo = _thermo(lmp)
            # Its first line is LAMMPS's ERROR line; the rest is a link to the manual.
            reason = (str(exc).strip().splitlines() or [""])[0]
            if f"fix-id {WATCHDOG} " in reason:
                reason = f"blow-up: non-finite energy or lost atoms ({reason})"
            exc = StageFailure(protocol.stage, int(thermo.get("step", -1)), thermo, reason)
        result = {"stage": protocol.stage, "status": "failed", "error": str(exc),
                  "step": exc.step, "last_thermo": exc.thermo, "converge": converge}
    finally:
        lmp.close()
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -P -m mesosweep.stages.runner STAGE_DIRECTORY", file=sys.stderr)
        return 2
    directory = Path(argv[0]).resolve()
    # Paths inside the protocol are relative to the stage directory.
    os.chdir(directory)
    preload_mpi()
    from mpi4py import MPI  # noqa: PLC0415 - after the preload

    comm = MPI.COMM_WORLD
    result = execute(directory, comm)
    if comm.Get_rank() == 0:
        (directory / RESULT_FILE).write_text(json.dumps(result, indent=1))
    return 0 if result["status"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
