"""The plan of a sweep: which realisations exist, their seeds, and where each one works."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mesosweep.ensemble.seeds import realisation_seeds
from mesosweep.ensemble.spec import Formulation, Spec


@dataclass(frozen=True)
class Realisation:
    """One random realisation of one case (formulation): its seeds and its work directory."""

    case_index: int
    formulation: Formulation
    index: int
    seeds: dict[str, int]
    workdir: Path

    @property
    def label(self) -> str:
        return f"{self.formulation.name}/r{self.index:04d}"


def degrees(spec: Spec) -> tuple[float, ...]:
    """Compression degrees of the store: 0 (the dried electrode) followed by the spec's, sorted."""
    return tuple(sorted({0.0, *spec.process.compression_degrees}))


def workdir_of(spec: Spec) -> Path:
    """Folder beside the store that holds every realisation's stage directories."""
    out = spec.sweep.output
    return out.with_name(out.stem + ".work")


def plan(spec: Spec) -> list[Realisation]:
    """Every realisation of the sweep, cases outermost, in a stable order."""
    root = workdir_of(spec)
    return [
        Realisation(c, f, r, realisation_seeds(spec.sweep.root_seed, c, r),
                    root / f.name / f"r{r:04d}")
        for c, f in enumerate(spec.formulations)
        for r in range(spec.sweep.realisations)
    ]
