"""The stages of one realisation, in the order they run: the one table the work directories,
the store's ``stage`` coordinate, the seeds and the progress display all read.

A realisation builds its initial structure, relaxes the slurry, dries it, then presses the dried
film through the compression degrees in increasing order (each pressing continues the last),
releases each pressing (the calendered state of that degree) and analyses every state.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One stage of a realisation."""

    name: str  # its work directory (``<name>`` or ``<name>-<degree>``) and its label
    recorded_as: str  # the store's ``stage`` entry its status, wall time and steps go to
    seed: str | None  # the seed stream it draws from (None: it draws no random numbers)
    per_degree: bool  # one per compression degree
    lammps: bool  # runs LAMMPS (leaves a result.json), so progress shows it
    description: str


STAGES: tuple[Stage, ...] = (
    Stage("structure", "structure", "structure", False, False,
          "secondaries drawn, rotated and placed; CBD beads added"),
    Stage("slurry", "slurry", "slurry", False, True, "the slurry relaxes under NPT"),
    Stage("drying", "drying", "drying", False, True,
          "the solvent leaves and the film settles on the current collector"),
    Stage("pressing", "calendering", "calendering", True, True,
          "the plane presses the film down to the compression degree"),
    Stage("calendering", "calendering", "calendering", True, True,
          "the plane is released and the film relaxes: the calendered electrode"),
    Stage("analysis", "analysis", None, True, False, "metrics of the dried and calendered states"),
)

BY_NAME = {s.name: s for s in STAGES}
# The store's ``stage`` coordinate: pressing and release are recorded together as calendering.
RECORDED = tuple(dict.fromkeys(s.recorded_as for s in STAGES))
# Seed streams, in the order seeds are drawn: one per stage that draws, and one for the sweep's
# synthetic particle volume.
SEED_STREAMS = (*dict.fromkeys(s.seed for s in STAGES if s.seed), "particles")
