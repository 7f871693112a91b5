"""A stage's LAMMPS protocol: plain commands plus runs that stop on a convergence criterion.

A stage writes its protocol into its work directory (step 1, build inputs) twice: as the LAMMPS
input ``in.<stage>.lammps`` that the MPI runner executes, and as ``protocol.json``, the same
blocks in a form programs read. The input is complete: its convergence runs are loops written in
LAMMPS's own input language, so plain ``lmp -in in.<stage>.lammps`` in the stage directory
reruns the stage exactly as the runner did (docs/physics.md, "Reproducing a stage").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The files of a stage directory.
PROTOCOL_FILE = "protocol.json"
RESULT_FILE = "result.json"
LOG_FILE = "log.lammps"
STATE_FILE = "state.data"  # the beads a stage leaves for the next (LAMMPS data file)
STRUCTURE_FILE = "structure.data"  # the initial structure's beads, at full precision
BEAD_MAP_FILE = "beads.npz"  # bead id -> secondary particle, for tracking shapes between states
# The timestep at which the stage's first run starts (a stage read from a restart continues
# the previous stage's count): the stage's own steps are the final step minus this.
STEP0 = "mesosweep_step0"


def input_file(stage: str) -> str:
    """Name of the LAMMPS input that a stage directory holds, e.g. ``in.slurry.lammps``."""
    return f"in.{stage}.lammps"


def history_file(block: str) -> str:
    """Name of the file a convergence run writes its checks to, one ``steps value`` per line."""
    return f"converge-{block}.txt"


@dataclass(frozen=True)
class Commands:
    """LAMMPS commands executed as they are."""

    lines: tuple[str, ...]
    kind: str = "commands"


@dataclass(frozen=True)
class Converge:
    """Run in chunks of ``check_steps`` until ``variable`` changes by less than ``tolerance``.

    Converged means: the relative change of the equal-style LAMMPS variable ``variable`` between
    consecutive checks stayed below ``tolerance`` for ``patience`` checks in a row, after at least
    ``min_steps``. The run stops at ``max_steps`` whether converged or not (recorded).
    """

    name: str
    variable: str
    check_steps: int
    max_steps: int
    tolerance: float
    min_steps: int = 0
    patience: int = 3
    kind: str = "converge"

    def var(self, what: str) -> str:
        """Name of one of the loop's own LAMMPS variables (``steps``, ``converged`` …)."""
        return f"cv_{self.name}_{what}"

    def render(self) -> list[str]:
        """The convergence run as LAMMPS input: a loop of ``run`` chunks and checks.

        Values are carried between checks with ``$(…:%.17g)``, which keeps every bit of a
        double (``${…}`` would round to 15 digits), so the loop takes the same decisions as
        the same rule evaluated in double precision.
        """
        v = self.var
        label, done = v("loop"), v("done")
        tol = repr(float(self.tolerance))
        return [
            f"# Run until v_{self.variable} changes by less than {tol} (relative) between checks "
            f"{self.check_steps} steps apart, {self.patience} checks in a row, after at least "
            f"{self.min_steps} steps; at most {self.max_steps} steps.",
            f"variable {v('steps')} equal 0",
            f"variable {v('checks')} equal 0",
            f"variable {v('calm')} equal 0",
            f"variable {v('previous')} equal 0",
            f"variable {v('converged')} equal 0",
            f"variable {v('pre')} string yes",
            f'print "# steps {self.variable}" file {history_file(self.name)} screen no',
            f"label {label}",
            # LAMMPS formulas have no min() or max() of two numbers: ternary() stands in.
            f"variable {v('run')} equal ternary({self.max_steps}-${{{v('steps')}}}>"
            f"{self.check_steps},{self.check_steps},{self.max_steps}-${{{v('steps')}}})",
            f"run ${{{v('run')}}} pre ${{{v('pre')}}} post no",
            f"variable {v('pre')} string no",
            f"variable {v('steps')} equal ${{{v('steps')}}}+${{{v('run')}}}",
            f"variable {v('value')} equal $(v_{self.variable}:%.17g)",
            f'print "${{{v("steps")}}} $(v_{v("value")}:%.17g)" append '
            f"{history_file(self.name)} screen no",
            # calm + 1 when the relative change is below the tolerance, else 0; the first
            # check has nothing to compare with.
            f"variable {v('calm')} equal $((v_{v('checks')}>0)*(abs(v_{v('value')}-"
            f"v_{v('previous')})/ternary(abs(v_{v('previous')})>1e-300,"
            f"abs(v_{v('previous')}),1e-300)<{tol})*"
            f"(v_{v('calm')}+1))",
            f"variable {v('previous')} equal $(v_{v('value')}:%.17g)",
            f"variable {v('checks')} equal ${{{v('checks')}}}+1",
            f'if "${{{v("calm")}}} >= {self.patience} && ${{{v("steps")}}} >= {self.min_steps}" '
            f'then "variable {v("converged")} equal 1" "jump SELF {done}"',
            f'if "${{{v("steps")}}} < {self.max_steps}" then "jump SELF {label}"',
            f"label {done}",
        ]


@dataclass(frozen=True)
class Protocol:
    """Everything one stage runs, in order."""

    stage: str
    blocks: tuple[Commands | Converge, ...]
    atoms: int
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def converge_blocks(self) -> tuple[Converge, ...]:
        return tuple(b for b in self.blocks if isinstance(b, Converge))

    def write(self, directory: Path) -> Path:
        """Write ``protocol.json`` and the LAMMPS input; returns the input's path."""
        data = {"stage": self.stage, "atoms": self.atoms, "outputs": self.outputs,
                "blocks": [asdict(b) for b in self.blocks]}
        (directory / PROTOCOL_FILE).write_text(json.dumps(data, indent=1))
        path = directory / input_file(self.stage)
        path.write_text(self.render())
        return path

    @classmethod
    def read(cls, directory: Path) -> Protocol:
        data = json.loads((directory / PROTOCOL_FILE).read_text())
        blocks: list[Commands | Converge] = []
        for b in data["blocks"]:
            kind = b.pop("kind")
            if kind == "commands":
                blocks.append(Commands(tuple(b["lines"])))
            elif kind == "converge":
                blocks.append(Converge(**b))
            else:
                raise ValueError(f"{directory / PROTOCOL_FILE}: unknown block kind {kind!r}")
        return cls(data["stage"], tuple(blocks), int(data["atoms"]), dict(data.get("outputs", {})))

    def render(self) -> str:
        """The complete LAMMPS input of the stage, convergence loops included."""
        lines = [f"# mesosweep stage {self.stage}: {self.atoms} beads. Rerun it from this "
                 f"directory with: lmp -in {input_file(self.stage)}"]
        marked = False
        mark = f"variable {STEP0} equal $(step)"
        for block in self.blocks:
            if isinstance(block, Converge):
                if not marked:  # before the loop, not inside it
                    lines.append(mark)
                    marked = True
                lines.extend(block.render())
                continue
            for line in block.lines:
                if not marked and line.split()[:1] == ["run"]:
                    lines.append(mark)
                    marked = True
                lines.append(line)
        lines.append(f'print "mesosweep stage {self.stage}: $(step-v_{STEP0}) steps"'
                     if marked else f'print "mesosweep stage {self.stage}: no run"')
        return "\n".join(lines) + "\n"
