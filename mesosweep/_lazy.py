"""A subpackage's public API stated once, and loaded on first use (PEP 562).

A subpackage's ``__init__`` names each public object and the module that defines it::

    __getattr__, __dir__, __all__ = lazy_api(__name__, {"tortuosity_factor": "tortuosity"})

``from mesosweep.analysis import tortuosity_factor`` then imports ``analysis/tortuosity.py``
at that moment, not when the package is imported, so ``import mesosweep.analysis`` stays cheap
(the modules that need scikit-image or matplotlib load only when something of theirs is used).

A name that is also the name of one of the package's modules (``porosity`` is both a function
and the module that defines it) cannot be exported as the object: Python sets a package's
attribute to its submodule whenever that submodule is first imported, so the answer would
depend on what was imported before. Such modules are listed in ``submodules`` instead and
resolve, always, to the module.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_api(package: str, exports: Mapping[str, str], submodules: Iterable[str] = ()
             ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` of ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Public name → module of the package that defines it (``"tortuosity"`` for
        ``package.tortuosity``).
    submodules : iterable of str
        Modules offered as attributes of the package, imported when first asked for.

    Returns
    -------
    tuple
        ``(__getattr__, __dir__, __all__)`` to assign at the package's top level.
    """
    modules = tuple(submodules)
    clash = sorted(set(exports) & set(modules))
    if clash:
        raise ValueError(f"{package}: {clash} are module names and cannot be exported as objects")
    public = sorted(exports) + sorted(modules)

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
            setattr(sys.modules[package], name, value)  # the next look-up is a plain attribute
            return value
        if name in modules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(public) | set(vars(sys.modules[package])))

    return __getattr__, __dir__, public
