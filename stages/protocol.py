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


#: How a convergence run decides that its variable has settled (``Converge.rule``).
RULES = ("consecutive", "extrapolated")


@dataclass(frozen=True)
class Converge:
    """Run in chunks of ``check_steps`` until ``variable`` has settled to ``tolerance``.

    Settled, by ``rule``, for ``patience`` checks in a row, after at least ``min_steps``:

    - ``consecutive``: the relative change between consecutive checks is below ``tolerance``;
    - ``extrapolated``: the change still to come, estimated from the last three checks as an
      exponential approach (Aitken's extrapolation: with steps d1, d2 and r = d2/d1 it is
      |d2| r / (1 - r)), is below ``tolerance`` relative to the value. A series that does not
      slow down (r >= 1: a drift) never settles; one whose steps change sign (noise around a
      settled value) has |d2| still to come.

    The run stops at ``max_steps`` whether settled or not (recorded).
    """

    name: str
    variable: str
    check_steps: int
    max_steps: int
    tolerance: float
    min_steps: int = 0
    patience: int = 3
    rule: str = "consecutive"
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
            f"# Run until v_{self.variable} has settled to {tol} (relative; rule {self.rule}) "
            f"at checks {self.check_steps} steps apart, {self.patience} checks in a row, after "
            f"at least {self.min_steps} steps; at most {self.max_steps} steps.",
            f"variable {v('steps')} equal 0",
            f"variable {v('checks')} equal 0",
            f"variable {v('calm')} equal 0",
            f"variable {v('previous')} equal 0",
            f"variable {v('before')} equal 0",
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
            *self._settled(tol),
            f"variable {v('before')} equal $(v_{v('previous')}:%.17g)",
            f"variable {v('previous')} equal $(v_{v('value')}:%.17g)",
            f"variable {v('checks')} equal ${{{v('checks')}}}+1",
            f'if "${{{v("calm")}}} >= {self.patience} && ${{{v("steps")}}} >= {self.min_steps}" '
            f'then "variable {v("converged")} equal 1" "jump SELF {done}"',
            f'if "${{{v("steps")}}} < {self.max_steps}" then "jump SELF {label}"',
            f"label {done}",
        ]


    def _settled(self, tol: str) -> list[str]:
        """Lines that set ``calm``: how many checks in a row the rule has judged settled."""
        v = self.var
        value, previous, before = (f"v_{v(x)}" for x in ("value", "previous", "before"))
        # |x| or the smallest positive double: no division by zero. LAMMPS formulas have no
        # min() or max() of two numbers, and ternary() evaluates both branches.
        scale = f"ternary(abs({previous})>1e-300,abs({previous}),1e-300)"
        if self.rule == "consecutive":
            # The first check has nothing to compare with.
            return [f"variable {v('calm')} equal $((v_{v('checks')}>0)*(abs({value}-"
                    f"{previous})/{scale}<{tol})*(v_{v('calm')}+1))"]
        d1, d2 = f"({previous}-{before})", f"({value}-{previous})"
        ratio = f"{d2}*{d1}/({d1}*{d1}+1e-300)"  # d2/d1, or 0 when d1 is 0
        return [
            f"variable {v('ratio')} equal $({ratio}:%.17g)",
            # Still to come: none known beyond |d2| when the steps change sign, |d2| r/(1-r)
            # when they shrink, without end when they do not (a drift).
            f"variable {v('remaining')} equal $(ternary(v_{v('ratio')}>=1,1e300,"
            f"ternary(v_{v('ratio')}<=0,abs({d2}),abs({d2})*v_{v('ratio')}/"
            f"ternary(v_{v('ratio')}<1,1-v_{v('ratio')},1))):%.17g)",
            # Three checks make the first estimate.
            f"variable {v('calm')} equal $((v_{v('checks')}>1)*(v_{v('remaining')}/"
            f"ternary(abs({value})>1e-300,abs({value}),1e-300)<{tol})*(v_{v('calm')}+1))",
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
