"""The plan of a sweep: which realisations exist, their seeds, and where each one works."""

from __future__ import annotations

from dataclasses import dataclass

from mesosweep.ensemble.layout import RealisationLayout, SweepLayout
from mesosweep.ensemble.seeds import realisation_seeds
from mesosweep.ensemble.spec import Formulation, Spec


@dataclass(frozen=True)
class Realisation:
    """One random realisation of one case (formulation): its seeds and its work folder."""

    case_index: int
    formulation: Formulation
    index: int
    seeds: dict[str, int]
    layout: RealisationLayout

    @property
    def label(self) -> str:
        return self.layout.label


def degrees(spec: Spec) -> tuple[float, ...]:
    """Compression degrees of the store: 0 (the dried electrode) followed by the spec's, sorted."""
    return tuple(sorted({0.0, *spec.process.compression_degrees}))


def plan(spec: Spec) -> list[Realisation]:
    """Every realisation of the sweep, cases outermost, in a stable order."""
    sweep = SweepLayout(spec.sweep.output)
    return [
        Realisation(c, f, r, realisation_seeds(spec.sweep.root_seed, c, r),
                    sweep.realisation(f.name, r))
        for c, f in enumerate(spec.formulations)
        for r in range(spec.sweep.realisations)
    ]
