"""The physics: particle database, initial structure, force fields and the LAMMPS stages.

Every stage module (``initial``, ``slurry``, ``drying``, ``pressing``, ``calendering``) offers
``build_inputs(params, upstream, directory)`` and ``read_output(directory)``; :func:`run` runs
any stage's LAMMPS input under MPI (:mod:`mesosweep.stages.contract`). Nothing here knows about
Dask or the sweep: a stage's parameters arrive as its own frozen dataclass. The public API,
stated once and loaded on first use::

    from mesosweep.stages import slurry, SlurryParams, run, load_forcefield
"""

from mesosweep._lazy import lazy_api

__getattr__, __dir__, __all__ = lazy_api(__name__, {
    # the stage contract
    "StageOutput": "contract", "RunResult": "contract", "ConvergeRecord": "contract",
    "run": "contract",
    # each stage's parameters
    "StructureParams": "initial", "SlurryParams": "slurry", "DryingParams": "drying",
    "PressingParams": "pressing", "ReleaseParams": "calendering", "Numerics": "inputs",
    # beads and LAMMPS inputs
    "BeadState": "lammps_data", "read_data": "lammps_data", "write_data": "lammps_data",
    "Protocol": "protocol", "Commands": "protocol", "Converge": "protocol",
    # force fields (stages/params/*.toml)
    "ForceField": "forcefield", "load_forcefield": "forcefield",
    "shipped_forcefield": "forcefield",
    # particles: XCT volumes, the database, synthetic particles, PSD tables, structures
    "read_volume": "xct_io", "labels_to_phases": "xct_io",
    "ParticleDatabase": "particles", "build_database": "particles",
    "build_database_from_file": "particles", "load_database": "particles",
    "save_database": "particles", "synthetic_volume": "synthetic",
    "PsdTable": "psd", "read_psd_table": "psd",
    "Structure": "structure", "build_structure": "structure",
    # metrics of a simulated state
    "voxel_images": "measure",
}, submodules=("initial", "slurry", "drying", "pressing", "calendering", "measure"))
