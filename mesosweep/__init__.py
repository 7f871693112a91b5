"""mesosweep: ensembles of electrode-manufacturing simulations compared with XCT."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mesosweep")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
