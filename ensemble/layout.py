"""Where everything of a sweep lies on disk: the one owner of every path.

Every other module asks these objects for a folder or a file instead of building the path
itself::

    sweep = SweepLayout(spec.sweep.output)       # quick.zarr
    sweep.workdir                                # quick.work/
    sweep.database(key)                          # quick.work/particles-<key>.npz
    sweep.driver_log                             # quick.work/driver.log
    real = sweep.realisation("96-4", 0)          # quick.work/96-4/r0000/
    real.stage_dir("pressing", 0.15)             # quick.work/96-4/r0000/pressing-0.15/
    real.state_file("drying")                    # quick.work/96-4/r0000/drying/state.data
    real.fn("launches.log")                      # any file of the realisation's own

A stage runs in a private temporary folder (:meth:`RealisationLayout.attempt_dir`) that is
renamed to its stage folder only when it finished, so a stage folder always holds a whole stage.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from mesosweep.ensemble.pipeline import BY_NAME, STAGES
from mesosweep.stages.protocol import BEAD_MAP_FILE, STATE_FILE, STRUCTURE_FILE

WORK_SUFFIX = ".work"
DATABASE_STEM = "particles"
LAUNCH_LOG = "launches.log"  # one line per LAMMPS launch, over every attempt
_ATTEMPT_SUFFIX = ".tmp"


def degree_tag(degree: float) -> str:
    """How a compression degree appears in folder names and task keys: the shortest text that
    reads back as exactly the same number (``0.15``, ``0.327``, ``1e-05``), so two degrees the
    spec tells apart never share a folder."""
    return repr(float(degree))


def stage_label(stage: str, degree: float | None = None) -> str:
    """A stage's folder name and label: ``slurry``, ``pressing-0.15`` …"""
    return stage if degree is None else f"{stage}-{degree_tag(degree)}"


@dataclass(frozen=True)
class RealisationLayout:
    """The work folder of one realisation and every path inside it."""

    root: Path
    label: str  # "<case>/r<index>", as progress lines and the store's messages show it

    def fn(self, name: str) -> Path:
        """A file of the realisation's own, directly in its work folder."""
        return self.root / name

    def stage_dir(self, stage: str, degree: float | None = None) -> Path:
        """The folder of one stage; stages run once per compression degree take ``degree``."""
        info = BY_NAME[stage]
        if info.per_degree != (degree is not None):
            raise ValueError(f"stage {stage!r} {'needs' if info.per_degree else 'takes no'} "
                             "compression degree")
        return self.root / stage_label(stage, degree)

    def state_file(self, stage: str, degree: float | None = None) -> Path:
        """The final beads a stage left (the structure's initial beads for ``structure``)."""
        name = STRUCTURE_FILE if stage == "structure" else STATE_FILE
        return self.stage_dir(stage, degree) / name

    def final_state(self, degree: float) -> Path:
        """The electrode at compression ``degree``: the dried film (0) or its calendered state."""
        return self.state_file("drying") if degree == 0 else self.state_file("calendering", degree)

    @property
    def bead_map(self) -> Path:
        return self.stage_dir("structure") / BEAD_MAP_FILE

    @property
    def launch_log(self) -> Path:
        return self.fn(LAUNCH_LOG)

    def attempt_dir(self, directory: Path) -> Path:
        """A fresh private folder for one attempt at the stage folder ``directory``."""
        return directory.with_name(f".{directory.name}.{uuid.uuid4().hex[:12]}{_ATTEMPT_SUFFIX}")

    def attempt_dirs(self) -> list[Path]:
        """Folders of attempts that did not finish (interrupted or running now)."""
        return sorted(self.root.glob(f".*{_ATTEMPT_SUFFIX}")) if self.root.exists() else []

    def stage_dirs(self) -> list[tuple[str, float | None, Path]]:
        """(stage, degree, folder) of every stage folder that exists, running attempts
        included, in the order the stages run (per degree: its pressing, then its release)."""
        if not self.root.exists():
            return []
        found = []
        for path in self.root.iterdir():
            parsed = parse_stage_dir(path.name)
            if path.is_dir() and parsed is not None:
                found.append((*parsed, path))
        order = {s.name: k for k, s in enumerate(STAGES)}
        return sorted(found, key=lambda f: (f[1] is not None, f[1] or 0.0, order[f[0]],
                                            f[2].name))


def parse_stage_dir(name: str) -> tuple[str, float | None] | None:
    """(stage, degree) of a stage folder's name (an attempt's too); None for anything else."""
    if name.startswith(".") and name.endswith(_ATTEMPT_SUFFIX):
        name = name[1:].rsplit(".", 2)[0]
    stage, _, tag = name.partition("-")
    info = BY_NAME.get(stage)
    if info is None or info.per_degree != bool(tag):
        return None
    if not tag:
        return stage, None
    try:
        return stage, float(tag)
    except ValueError:
        return None


@dataclass(frozen=True)
class SweepLayout:
    """The folders of one sweep: its store and the work folder beside it."""

    store: Path

    @property
    def workdir(self) -> Path:
        """Beside the store, named after it: every realisation's stage folders."""
        return self.store.with_name(self.store.stem + WORK_SUFFIX)

    @property
    def lease(self) -> Path:
        """Who runs the sweep now (ensemble.lease): one driver per store."""
        return self.workdir / "driver.lease"

    @property
    def doctor(self) -> Path:
        """``mesosweep doctor``'s trial stage and its batch job's script (shared with it)."""
        return self.workdir / "doctor"

    @property
    def driver_log(self) -> Path:
        """What every driver of the sweep said, with times (appended run after run)."""
        return self.workdir / "driver.log"

    def database(self, key: str) -> Path:
        """The particle database a synthetic sweep generates (once, shared by all), named by
        ``key``, the hash of what generated it: a changed generator never reuses an old one."""
        return self.workdir / f"{DATABASE_STEM}-{key[:16]}.npz"

    def realisation(self, case: str, index: int) -> RealisationLayout:
        return RealisationLayout(self.workdir / case / f"r{index:04d}",
                                 realisation_label(case, index))


def realisation_label(case: str, index: int) -> str:
    """How a realisation is named in progress lines, the store's messages and the live page."""
    return f"{case}/r{index:04d}"
