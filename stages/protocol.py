"""A stage's LAMMPS protocol: plain commands plus runs that stop on a convergence criterion.

A stage writes its protocol as JSON into its work directory (step 1, build inputs); the MPI
runner executes it (step 2); the stage reads what it wrote (step 3). The same protocol renders to
a plain LAMMPS input with fixed step counts so that bare ``lmp`` can run it for comparison.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROTOCOL_FILE = "protocol.json"
RESULT_FILE = "result.json"
LOG_FILE = "log.lammps"


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


@dataclass(frozen=True)
class Protocol:
    """Everything one stage runs, in order."""

    stage: str
    blocks: tuple[Commands | Converge, ...]
    atoms: int
    outputs: dict[str, str] = field(default_factory=dict)

    def write(self, directory: Path) -> Path:
        path = directory / PROTOCOL_FILE
        data = {"stage": self.stage, "atoms": self.atoms, "outputs": self.outputs,
                "blocks": [asdict(b) for b in self.blocks]}
        path.write_text(json.dumps(data, indent=1))
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

    def render(self, steps_per_converge: dict[str, int] | None = None) -> str:
        """A plain LAMMPS input: each convergence run becomes a run of a fixed step count.

        ``steps_per_converge`` maps a block name to the steps to run (default: its max_steps).
        """
        steps_per_converge = steps_per_converge or {}
        lines = [f"# {self.stage}: rendered from {PROTOCOL_FILE}"]
        for block in self.blocks:
            if isinstance(block, Commands):
                lines.extend(block.lines)
            else:
                lines.append(f"run {steps_per_converge.get(block.name, block.max_steps)}")
        return "\n".join(lines) + "\n"
