"""Progress of running realisations, read from their work directories.

Each stage leaves ``log.lammps`` while it runs and ``result.json`` when it ends, so the driver
(or anyone with the shared filesystem) can tell what is running and what finished without
asking the workers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from mesosweep.ensemble.plan import Realisation
from mesosweep.stages.protocol import LOG_FILE, RESULT_FILE


def stage_name(directory: Path) -> str:
    """The stage a directory belongs to: a running attempt works in ``.NAME.ID.tmp``."""
    name = directory.name
    if name.startswith(".") and name.endswith(".tmp"):
        return name[1:].rsplit(".", 2)[0]
    return name


def stage_dirs(real: Realisation) -> list[Path]:
    """The realisation's stage directories that exist (running attempts included), in order."""
    if not real.workdir.exists():
        return []
    dirs = [d for d in real.workdir.iterdir() if d.is_dir()]
    return sorted(dirs, key=lambda d: (_order(stage_name(d)), d.name))


def _order(name: str) -> tuple:
    """structure, slurry, drying, then per degree (increasing) its pressing and its release."""
    first = {"structure": 0, "slurry": 1, "drying": 2}
    if name in first:
        return (first[name],)
    stage, _, degree = name.partition("-")
    try:
        return (3, float(degree), stage != "pressing", name)
    except ValueError:
        return (4, name)


def stage_state(directory: Path) -> tuple[str, dict]:
    """('running' | 'done' | 'failed' | 'pending', result) of one stage directory."""
    result_path = directory / RESULT_FILE
    if result_path.exists():
        try:
            result = json.loads(result_path.read_text())
        except json.JSONDecodeError:  # being written right now
            return "running", {}
        return result.get("status", "failed"), result
    if (directory / LOG_FILE).exists():
        return "running", {}
    return "pending", {}


class StageWatcher:
    """Reports each stage transition of the watched realisations once."""

    def __init__(self, realisations: Iterable[Realisation]):
        self.realisations = list(realisations)
        self._seen: dict[tuple[str, str], str] = {}

    def poll(self) -> list[str]:
        """New transitions since the last poll, as printable lines."""
        lines = []
        for real in self.realisations:
            for d in stage_dirs(real):
                name = stage_name(d)
                if name == "structure":
                    continue
                state, result = stage_state(d)
                key = (real.label, name)
                if state == "pending" or self._seen.get(key) == state:
                    continue
                self._seen[key] = state
                if state == "done":
                    lines.append(f"  {real.label} {name}: done, {result['steps']} steps in "
                                 f"{result['wall_s']:.1f} s "
                                 f"({result['atom_steps_per_s']:.3g} atom-steps/s)")
                elif state == "running":
                    lines.append(f"  {real.label} {name}: running")
                else:
                    lines.append(f"  {real.label} {name}: failed")
        return lines
