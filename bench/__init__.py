"""Benchmarks that print ratios against a peer or a bare baseline measured in the same run.

One module per figure, each with ``main(argv) -> int``; ``FIGURES`` lists them in the order
``python -m bench`` runs them.
"""

FIGURES = ("slurry_throughput", "particles", "runner_overhead", "pore_network", "voxelise")
#: Figures that take long (minutes to hours) or need arguments: run only when named.
LONG = ("validate_paper", "tortuosity", "stage_throughput", "load_balance", "watchdog",
        "calendering_mechanisms")
