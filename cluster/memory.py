"""A batch job's memory: how the spec writes it, and how each batch system is told it.

The spec's ``cluster.memory`` is a number and a unit, one token: ``KB MB GB TB`` count powers of
1000 bytes and ``KiB MiB GiB TiB`` powers of 1024, as Dask reads them (the worker's own memory
limit comes from the same text). The batch systems each want their own syntax, so the amount
is converted, never pasted:

- Slurm and LSF: dask-jobqueue converts it itself (``#SBATCH --mem=<n>K|M|G``, rounded up to
  whole KiB, MiB or GiB; ``#BSUB -M <n>`` in the site's LSF_UNIT_FOR_LIMITS).
- PBS: ``mem=`` takes a whole number with ``b kb mb gb tb``, each 1024 times the last; a
  ``GiB`` or a space would be refused or split the directive.
- SGE: ``h_vmem=`` takes a whole number with one letter, ``K M G`` (powers of 1024) or
  ``k m g`` (powers of 1000); ``GB`` is not one of them.

Pure functions, no Dask: spec validation uses them.
"""

from __future__ import annotations

import math
import re

__all__ = ["MEMORY_PATTERN", "MEMORY_RULE", "MIN_WORKER_BYTES", "memory_bytes", "pbs_size",
           "sge_size", "too_small"]

#: A number and a unit without a space (a space would split a batch-script directive).
MEMORY_PATTERN = r"(\d+(?:\.\d+)?)([KMGTkmgt][Ii]?[Bb])"
MEMORY_RULE = "a number and a unit KB MB GB TB (or KiB MiB GiB TiB), without a space"
#: A Dask worker and its nanny take about 200 MB before any work: below this a job's worker
#: is killed for its memory at once.
MIN_WORKER_BYTES = 256 * 1024**2

_POWER = {"k": 1, "m": 2, "g": 3, "t": 4}


def memory_bytes(text: str) -> int:
    """Bytes of a memory amount written as :data:`MEMORY_PATTERN` (``4GB``, ``1.5GiB``),
    rounded up to a whole byte. Raises ValueError for any other text."""
    match = re.fullmatch(MEMORY_PATTERN, text)
    if match is None:
        raise ValueError(f"memory {text!r}: expected {MEMORY_RULE}, e.g. '16GiB'")
    number, unit = match.groups()
    base = 1024 if unit[1:2] in ("i", "I") else 1000
    return math.ceil(float(number) * base ** _POWER[unit[0].lower()])


def _whole(nbytes: int, units: tuple[tuple[str, int], ...], smallest: str) -> str:
    """``nbytes`` in the largest unit that holds it exactly; else in ``smallest`` rounded up."""
    for name, size in units:
        if nbytes % size == 0:
            return f"{nbytes // size}{name}"
    size = dict(units)[smallest]
    return f"{math.ceil(nbytes / size)}{smallest}"


def pbs_size(nbytes: int) -> str:
    """A PBS size (``mem=``): whole ``tb gb mb kb`` (powers of 1024), exact when it can be,
    else kilobytes rounded up."""
    units = (("tb", 1024**4), ("gb", 1024**3), ("mb", 1024**2), ("kb", 1024))
    return _whole(nbytes, units, "kb")


def sge_size(nbytes: int) -> str:
    """An SGE memory specifier (``h_vmem=``): a whole number and one of ``G g M m K k``, exact
    when it can be, else kibibytes rounded up."""
    units = (("G", 1024**3), ("g", 1000**3), ("M", 1024**2), ("m", 1000**2), ("K", 1024),
             ("k", 1000))
    return _whole(nbytes, units, "K")


def too_small(kind: str, text: str) -> str | None:
    """Why ``text`` is too little memory for a worker's job on batch system ``kind`` (None: it
    is enough), saying what that system would be given."""
    nbytes = memory_bytes(text)
    if nbytes >= MIN_WORKER_BYTES:
        return None
    given = {"pbs": f"mem={pbs_size(nbytes)}", "sge": f"h_vmem={sge_size(nbytes)}"}.get(
        kind, f"{nbytes} bytes")
    return (f"{kind} would be given {given}, below the {MIN_WORKER_BYTES // 1024**2} MiB a Dask "
            f"worker and its nanny need before any work")
