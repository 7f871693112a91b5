"""The LAMMPS styles the stages use, and which of them a LAMMPS build has.

:data:`STYLES` declares every style the stage inputs name (atom, pair, bond, fix, compute and
region styles), each with the LAMMPS package that provides it ("" for LAMMPS's core).
``tests/test_doctor.py`` checks the declaration against the inputs a whole tiny sweep wrote
(:func:`styles_in_input`), so a stage that starts using a new style cannot be missed.
``mesosweep doctor`` compares it with what a build lists (:func:`parse_help` of ``lmp -h``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["STYLES", "Style", "Installed", "missing", "parse_help", "styles_in_input"]


@dataclass(frozen=True)
class Style:
    """One LAMMPS style: its category as ``lmp -h`` lists it (``pair`` for "Pair styles"),
    its name, and the package that provides it ("" for the core)."""

    category: str
    name: str
    package: str = ""

    def __str__(self) -> str:
        return f"{self.category} style {self.name}"


#: Every style the stage inputs use (stages.inputs, stages.forcefield and the stage modules).
STYLES: tuple[Style, ...] = (
    Style("atom", "hybrid"),
    Style("atom", "sphere"),
    Style("atom", "bond", "MOLECULE"),
    Style("pair", "hybrid/overlay"),
    Style("pair", "granular", "GRANULAR"),
    Style("pair", "lj/cut"),
    Style("bond", "harmonic", "MOLECULE"),
    # Calendering's binder bridges sit beside the intra-particle bonds.
    Style("bond", "hybrid", "MOLECULE"),
    Style("bond", "harmonic/restrain", "EXTRA-MOLECULE"),
    Style("fix", "balance"),
    Style("fix", "halt"),
    Style("fix", "nve/sphere"),
    Style("fix", "nve/limit"),
    Style("fix", "langevin"),
    Style("fix", "press/berendsen"),
    Style("fix", "wall/gran", "GRANULAR"),
    Style("fix", "wall/gran/region", "GRANULAR"),
    Style("compute", "reduce"),
    Style("region", "plane"),
)

# The input commands that name a style, and which of their words is it.
_STYLE_COMMANDS = {"atom_style": ("atom", 1), "pair_style": ("pair", 1),
                   "bond_style": ("bond", 1), "angle_style": ("angle", 1),
                   "fix": ("fix", 3), "compute": ("compute", 3), "region": ("region", 2),
                   "dump": ("dump", 3)}
_NAME = re.compile(r"[a-z][a-z0-9_/]*")


def styles_in_input(text: str) -> set[tuple[str, str]]:
    """(category, name) of every style a LAMMPS input's top-level commands name, the
    sub-styles of ``hybrid`` ones included (their other arguments are numbers)."""
    found: set[tuple[str, str]] = set()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] not in _STYLE_COMMANDS:
            continue
        category, at = _STYLE_COMMANDS[words[0]]
        if len(words) <= at or (words[0] == "region" and words[at] == "delete"):
            continue
        name = words[at]
        found.add((category, name))
        if name.startswith("hybrid"):
            found.update((category, w) for w in words[at + 1:] if _NAME.fullmatch(w))
    return found


@dataclass(frozen=True)
class Installed:
    """What a LAMMPS build lists in ``lmp -h``."""

    version: str  # e.g. "22 Jul 2025 - Update 4"; "" when not found
    packages: frozenset[str]
    styles: frozenset[tuple[str, str]]  # (category, name)


_HEADER = re.compile(r"^\* (\w+) styles:?\s*$")
_VERSION = re.compile(r"Large-scale Atomic/Molecular Massively Parallel Simulator - (.+?)\s*$",
                      re.M)


def parse_help(text: str) -> Installed:
    """The version, packages and styles that ``lmp -h`` prints."""
    styles: set[tuple[str, str]] = set()
    packages: set[str] = set()
    section: str | None = None
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            section = header.group(1).lower()
            continue
        if line.strip() == "Installed packages:":
            section = "packages"
            continue
        if section is None:
            continue
        if line.startswith("*") or (section == "packages" and packages and not line.strip()):
            section = None  # another listing begins, or the packages' paragraph ended
            continue
        words = line.split()
        if section == "packages":
            packages.update(words)
        else:
            styles.update((section, w) for w in words)
    version = _VERSION.search(text)
    return Installed(version.group(1) if version else "", frozenset(packages),
                     frozenset(styles))


def missing(installed: Installed, wanted: tuple[Style, ...] = STYLES) -> list[Style]:
    """The styles of ``wanted`` that the build lacks, in declaration order."""
    return [s for s in wanted if (s.category, s.name) not in installed.styles]
