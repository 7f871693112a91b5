"""Stage throughput against bare LAMMPS: ``python -m bench stage_throughput STAGE_DIR [...]``.

``throughput_ratio``: atom-steps per second of one stage's protocol driven by our MPI runner
(``python -P -m mesosweep.stages.runner``, with its convergence checks) over bare ``lmp``
running the same protocol rendered to a plain input, on the same beads, ranks and step count.
Goal ≥ 0.95.

``STAGE_DIR`` is any stage's work directory (``<work>/<case>/r0000/slurry``, ``drying``,
``calendering-0.327``): its protocol is cut to ``--steps`` steps per run (every ``run N`` and
every convergence run; convergence never stops it early) so that both sides do the same work.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mesosweep.stages.contract import RUNNER_MODULE
from mesosweep.stages.lammps_env import child_environment, executable
from mesosweep.stages.protocol import PROTOCOL_FILE, Commands, Converge, Protocol

BARE_INPUT = "in.stage"
_RUN = re.compile(r"^run (\d+)")  # a fixed-length run in a commands block


def truncated(protocol: Protocol, steps: int) -> Protocol:
    """The protocol with every run cut to at most ``steps`` steps; convergence runs check twice
    per run (more often than a real stage does, so the runner's overhead is not understated)."""
    blocks: list[Commands | Converge] = []
    for block in protocol.blocks:
        if isinstance(block, Converge):
            blocks.append(dataclasses.replace(block, max_steps=steps, tolerance=0.0, min_steps=0,
                                              check_steps=max(steps // 2, 1)))
        else:
            blocks.append(Commands(tuple(
                _RUN.sub(lambda m: f"run {min(int(m.group(1)), steps)}", line)
                for line in block.lines)))
    return dataclasses.replace(protocol, blocks=tuple(blocks))


def timed(cmd: list[str], cwd: Path) -> float:
    """Wall time of one command run to completion in ``cwd``, s."""
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=child_environment(), check=True, capture_output=True)
    return time.perf_counter() - started


def bare_lmp(ranks: int) -> list[str]:
    """Bare ``lmp`` under ``ranks`` MPI ranks on ``BARE_INPUT`` in the working directory."""
    return [executable("mpiexec"), "-n", str(ranks), executable("lmp"), "-in", BARE_INPUT,
            "-log", "log.lammps", "-screen", "none", "-nocite"]


def copy_inputs(stage_dir: Path, to: Path) -> None:
    """The stage's LAMMPS inputs (data and restart files, not its outputs) into ``to``."""
    to.mkdir(parents=True)
    outputs = set(Protocol.read(stage_dir).outputs.values())
    for path in [*stage_dir.glob("*.data"), *stage_dir.glob("*.restart")]:
        if path.name not in outputs:
            shutil.copy2(path, to / path.name)


def throughput_ratio(stage_dir: Path, steps: int, ranks: int, repeats: int) -> dict[str, float]:
    """Our runner vs bare lmp on ``stage_dir``'s protocol cut to ``steps`` (best of ``repeats``)."""
    protocol = truncated(Protocol.read(stage_dir), steps)
    total = sum(int(m.group(1)) for b in protocol.blocks if isinstance(b, Commands)
                for line in b.lines if (m := _RUN.match(line))) + sum(
        b.max_steps for b in protocol.blocks if isinstance(b, Converge))
    with tempfile.TemporaryDirectory(prefix="mesosweep-bench-") as tmp:
        ours, bare = Path(tmp) / "ours", Path(tmp) / "bare"
        for d in (ours, bare):
            copy_inputs(stage_dir, d)
        protocol.write(ours)
        (bare / BARE_INPUT).write_text(protocol.render())
        runner = [executable("mpiexec"), "-n", str(ranks), sys.executable, "-P", "-m",
                  RUNNER_MODULE]
        t_ours, t_bare = [], []
        for _ in range(repeats):  # interleaved, so drifts in machine load hit both alike
            t_ours.append(timed([*runner, str(ours)], ours))
            t_bare.append(timed(bare_lmp(ranks), bare))
    atom_steps = protocol.atoms * total
    return {"stage": protocol.stage, "atoms": protocol.atoms, "steps": total, "ranks": ranks,
            "ours_atom_steps_per_s": atom_steps / min(t_ours),
            "bare_lmp_atom_steps_per_s": atom_steps / min(t_bare),
            "throughput_ratio": min(t_bare) / min(t_ours)}


def bare_lmp_with_and_without(stage_dir: Path, steps: int, ranks: int, repeats: int,
                              dropped: tuple[str, ...]) -> tuple[dict[str, float], dict[str, str]]:
    """Bare lmp on ``stage_dir``'s protocol cut to ``steps``, as it is ("with") and without its
    lines that start with any of ``dropped`` ("without"): best wall time of ``repeats`` per side,
    s, and each side's last LAMMPS log."""
    text = truncated(Protocol.read(stage_dir), steps).render()
    lines = text.splitlines()
    if not any(line.startswith(dropped) for line in lines):
        raise SystemExit(f"{stage_dir}: its protocol has no line starting with {dropped} (made by "
                         "an older mesosweep?): rebuild the stage's inputs first")
    inputs = {"with": text,
              "without": "\n".join(x for x in lines if not x.startswith(dropped)) + "\n"}
    times: dict[str, list[float]] = {k: [] for k in inputs}
    logs: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="mesosweep-bench-") as tmp:
        dirs = {k: Path(tmp) / k for k in inputs}
        for k, d in dirs.items():
            copy_inputs(stage_dir, d)
            (d / BARE_INPUT).write_text(inputs[k])
        for _ in range(repeats):  # interleaved, so drifts in machine load hit both alike
            for k, d in dirs.items():
                times[k].append(timed(bare_lmp(ranks), d))
                logs[k] = (d / "log.lammps").read_text()
    return {k: min(v) for k, v in times.items()}, logs


def print_ratio(fig: dict) -> None:
    print(f"{fig['stage']} stage, {fig['atoms']} atoms x {fig['steps']} steps on "
          f"{fig['ranks']} rank(s):")
    print(f"  ours (the MPI runner)  {fig['ours_atom_steps_per_s']:>12.4g} atom-steps/s")
    print(f"  bare lmp, same input   {fig['bare_lmp_atom_steps_per_s']:>12.4g} atom-steps/s")
    print(f"  throughput ratio       {fig['throughput_ratio']:.3f}   (goal >= 0.95)", flush=True)


def stage_parser(figure: str, doc: str, ranks: int) -> argparse.ArgumentParser:
    """Options of a figure measured on stage work directories: dirs, steps, ranks, repeats."""
    parser = argparse.ArgumentParser(prog=f"python -m bench {figure}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage_dir", type=Path, nargs="+",
                        help=f"stage work directories (each holds {PROTOCOL_FILE})")
    parser.add_argument("--steps", type=int, default=2000, help="steps per run")
    parser.add_argument("--ranks", type=int, default=ranks, help="MPI ranks")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side; best counts")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = stage_parser("stage_throughput", __doc__, ranks=1).parse_args(argv)
    for d in args.stage_dir:
        print_ratio(throughput_ratio(d, args.steps, args.ranks, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
