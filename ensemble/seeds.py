"""Seeds: every random number of a sweep derives from its root seed and a realisation's index.

A rerun or a retry of a realisation therefore draws the same numbers. Seeds are spread with
numpy's SeedSequence (which decorrelates neighbouring indices) and mapped into the range LAMMPS
accepts (1 … 900 000 000).
"""

from __future__ import annotations

import numpy as np

from mesosweep.ensemble.pipeline import SEED_STREAMS

LAMMPS_SEED_MAX = 900_000_000
STREAMS = SEED_STREAMS  # one seed each, in this order


def realisation_seeds(root_seed: int, case_index: int, realisation: int) -> dict[str, int]:
    """One seed per stream for realisation ``realisation`` of case ``case_index``."""
    seq = np.random.SeedSequence([root_seed, case_index, realisation])
    words = seq.generate_state(len(STREAMS), dtype=np.uint64)
    return {name: int(w % LAMMPS_SEED_MAX) + 1 for name, w in zip(STREAMS, words, strict=True)}


def sweep_seed(root_seed: int, purpose: str) -> int:
    """A seed shared by the whole sweep (e.g. the synthetic particle volume)."""
    seq = np.random.SeedSequence([root_seed, *purpose.encode()])
    return int(seq.generate_state(1, dtype=np.uint64)[0] % LAMMPS_SEED_MAX) + 1
