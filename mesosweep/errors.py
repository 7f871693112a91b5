"""Every error mesosweep raises on purpose, under one base.

``except MesosweepError`` catches all of them; anything else is a bug. The command line turns an
:class:`InputError` into its lines and exit status 2, any other :class:`MesosweepError` into its
message and exit status 1. Every class survives pickling, so an error raised on a Dask worker
arrives at the driver with its fields.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

__all__ = [
    "MesosweepError",
    "InputError",
    "SpecError",
    "ForceFieldError",
    "StoreError",
    "ClusterError",
    "StageError",
]


class MesosweepError(Exception):
    """Base of every error mesosweep raises on purpose."""


def one_line(text: str) -> str:
    """``text`` with anything that would break it across lines escaped (hostile values are
    echoed back in messages)."""
    out = []
    for ch in str(text):
        if ch in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029" or unicodedata.category(ch) == "Cc":
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


class InputError(MesosweepError, ValueError):
    """Bad input from the user (a spec, a volume, a command-line value): refused before any work.

    One line per problem in ``problems``; each names the field, the value given, what is
    allowed and usually the fix, so the first line alone is a complete message.
    """

    problems: tuple[str, ...]

    def __init__(self, problems: str | Sequence[str]) -> None:
        # A plain string is accepted so the error survives pickling (Dask rebuilds exceptions
        # from ``args``).
        if isinstance(problems, str):
            problems = problems.splitlines()
        lines = tuple(one_line(p) for p in problems) or (f"invalid input ({type(self).__name__})",)
        super().__init__("\n".join(lines))
        self.problems = lines


class SpecError(InputError):
    """A sweep spec is invalid."""


class ForceFieldError(InputError):
    """A force-field parameter file is missing a value or holds a non-physical one."""


class StoreError(MesosweepError):
    """A results store cannot be used as asked (another sweep's, damaged, or incompatible)."""


class ClusterError(InputError):
    """The batch system refused the job script made from the spec's [cluster] fields; the
    message names the fields to check."""


class StageError(MesosweepError):
    """A stage of one realisation failed: LAMMPS stopped, the system blew up, or building its
    inputs or reading its outputs failed.

    ``stage`` names the stage (``slurry``, ``pressing-0.15`` …), ``reason`` says what happened,
    ``step`` is the LAMMPS step it happened at (-1 when not in LAMMPS), ``thermo`` the last
    thermodynamic values and ``log_tail`` the end of the LAMMPS log.
    """

    def __init__(self, stage: str, reason: str, *, step: int = -1,
                 thermo: dict[str, float] | None = None, log_tail: str = "") -> None:
        self.stage, self.reason, self.step = stage, reason, int(step)
        self.thermo = dict(thermo or {})
        self.log_tail = log_tail
        where = f" at step {self.step}" if self.step >= 0 else ""
        values = " ".join(f"{k}={v:.6g}" for k, v in self.thermo.items())
        super().__init__(f"stage {stage} failed{where}: {reason}"
                         + (f" (last thermo: {values})" if values else ""))

    def __reduce__(self):  # keyword fields too, not only ``args``
        return (_rebuild_stage_error, (self.stage, self.reason, self.step, self.thermo,
                                       self.log_tail))


def _rebuild_stage_error(stage: str, reason: str, step: int, thermo: dict[str, float],
                         log_tail: str) -> StageError:
    return StageError(stage, reason, step=step, thermo=thermo, log_tail=log_tail)
