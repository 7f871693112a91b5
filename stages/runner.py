"""Execute a stage's LAMMPS input under MPI:
``mpiexec -n N python -P -m mesosweep.stages.runner DIR``.

Every rank drives one LAMMPS instance on ``MPI.COMM_WORLD`` through the stage's own input file
``in.<stage>.lammps`` (the same file plain ``lmp -in`` runs); rank 0 then writes ``result.json``
(steps, wall time, throughput, convergence histories, final thermo, or the failure with its step
and last thermo line). A blow-up (lost atoms, non-finite energy) stops the run within
``WATCHDOG_EVERY`` steps, whatever the protocol's thermo or convergence intervals.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from mesosweep.errors import StageError
from mesosweep.stages.lammps_env import die_with_parent as _die_with_parent
from mesosweep.stages.lammps_env import new_lammps, preload_mpi
from mesosweep.stages.lammps_log import (
    THERMO_KEYS,
    WATCHDOG,
    check_thermo,
    converge_record,
    done_result,
    failed_result,
    failure_reason,
)
from mesosweep.stages.protocol import (
    LOG_FILE,
    RESULT_FILE,
    STEP0,
    Protocol,
    input_file,
)

__all__ = ["WATCHDOG", "WATCHDOG_EVERY", "execute", "main"]

WATCHDOG_EVERY = 100  # steps between its checks: a blow-up stops the run within them


def _thermo(lmp: Any) -> dict[str, float]:
    out = {}
    for key in THERMO_KEYS:
        try:
            out[key] = float(lmp.get_thermo(key))
        except Exception:  # noqa: BLE001 - a keyword LAMMPS cannot evaluate yet: leave it out
            continue
    return out


def execute(directory: Path, comm: Any) -> dict:
    """Run the stage in ``directory`` on ``comm``; returns the result (on every rank)."""
    protocol = Protocol.read(directory)
    lmp = new_lammps(comm, log_path=directory / LOG_FILE)
    started = time.perf_counter()
    converge: dict[str, dict] = {}
    try:
        lmp.file(str(directory / input_file(protocol.stage)))
        wall = time.perf_counter() - started
        thermo = check_thermo(_thermo(lmp), protocol.stage, protocol.atoms)
        for block in protocol.converge_blocks:
            converge[block.name] = converge_record(
                directory, block, protocol.stage,
                converged=bool(lmp.extract_variable(block.var("converged"))),
                steps=int(lmp.extract_variable(block.var("steps"))), thermo=thermo)
        step0 = lmp.extract_variable(STEP0)  # None when the input runs no steps at all
        steps = 0 if step0 is None else int(lmp.extract_global("ntimestep")) - int(step0)
        result = done_result(protocol, ranks=comm.Get_size() if comm is not None else 1,
                             world_size=int(lmp.extract_setting("world_size")), steps=steps,
                             wall_s=wall, converge=converge, thermo=thermo,
                             version=int(lmp.version()))
    except Exception as exc:  # noqa: BLE001 - ours, or LAMMPS's plain Exception with its ERROR
        if not isinstance(exc, StageError):
            thermo = _thermo(lmp)
            exc = StageError(protocol.stage, failure_reason(str(exc)),
                             step=int(thermo.get("step", -1)), thermo=thermo)
        result = failed_result(protocol, exc, converge)
    finally:
        lmp.close()
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -P -m mesosweep.stages.runner STAGE_DIRECTORY", file=sys.stderr)
        return 2
    directory = Path(argv[0]).resolve()
    # A rank dies with the process manager that started it: a killed worker must not leave
    # ranks writing into a stage directory (gforker, unlike hydra, does not take them down).
    _die_with_parent()
    # Paths inside the input are relative to the stage directory.
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
