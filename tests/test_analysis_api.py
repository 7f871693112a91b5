"""The public API of ``mesosweep.analysis``: stated once, loaded on first use."""

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

import mesosweep.analysis as analysis

HEAVY = ("skimage", "matplotlib", "scipy")


def test_importing_the_package_is_cheap_and_a_name_loads_its_module():
    # A fresh interpreter: this one has imported half the package already.
    code = (
        "import json, sys\n"
        "import mesosweep.analysis\n"
        f"before = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "from mesosweep.analysis import tortuosity_factor\n"
        "print(json.dumps([before, tortuosity_factor.__module__]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    before, module = json.loads(out)
    assert before == []
    assert module == "mesosweep.analysis.tortuosity"


@pytest.mark.parametrize("name", sorted(analysis._EXPORTS))
def test_every_exported_name_is_the_object_its_module_defines(name):
    module = importlib.import_module(f"mesosweep.analysis.{analysis._EXPORTS[name]}")
    value = getattr(analysis, name)
    assert value is getattr(module, name)
    if hasattr(value, "__module__") and callable(value):
        assert value.__module__ == module.__name__  # the defining module, not a re-export
    assert name in analysis.__all__ and name in dir(analysis)


def test_no_exported_name_is_also_a_module_name():
    # A package attribute named like a submodule becomes that module once it is imported.
    modules = {m.name for m in pkgutil.iter_modules(analysis.__path__)}
    assert not modules & set(analysis._EXPORTS)
    for name in ("porosity", "voxelise", "pore_network", "compare"):
        assert getattr(analysis, name) is importlib.import_module(f"mesosweep.analysis.{name}")
        assert name in analysis.__all__


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'tortuosity_factors'"):
        analysis.tortuosity_factors  # noqa: B018 - the look-up is the test
    with pytest.raises(ImportError):
        exec("from mesosweep.analysis import no_such_metric", {})
