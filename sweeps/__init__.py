"""Sweep specs shipped with mesosweep: the quick sweep and the presets of the paper's cases.

``mesosweep init NAME DIR`` copies one where the user wants it. The files are package data, read
through :mod:`importlib.resources`, so they are found in a wheel as in a source checkout.
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["DEFAULT", "names", "text"]

DEFAULT = "quick"  # the sweep that runs in minutes on a laptop


def names() -> list[str]:
    """The shipped specs by name (the file name without ``.toml``), the quick sweep first."""
    found = [p.name.removesuffix(".toml") for p in files(__name__).iterdir()
             if p.name.endswith(".toml")]
    return sorted(found, key=lambda name: (name != DEFAULT, name))


def text(name: str) -> str:
    """The TOML text of shipped spec ``name`` (one of :func:`names`)."""
    return files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
