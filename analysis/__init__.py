"""Microstructure metrics on voxel images: pure functions, arrays in, numbers or arrays out.

The public API, stated once below and loaded on first use, so that ``import mesosweep.analysis``
costs nothing and scikit-image loads only with the function that needs it::

    from mesosweep.analysis import tortuosity_factor, electrode_metrics

Three functions share their name with the module that defines them, and that name always
means the module (Python binds a package's attribute to its submodule on first import):
``from mesosweep.analysis import porosity`` gives the module, whose ``porosity`` is the
function; likewise ``voxelise``, ``pore_network`` and ``compare`` (the comparison statistics).
docs/analysis.md describes every metric, its units and conventions.
"""

from mesosweep._lazy import lazy_api

_EXPORTS = {
    # phase labels of every image
    "PORE": "phases", "AM": "phases", "CBD": "phases",
    # beads -> voxels
    "bead_volume_voxels": "voxelise", "close_particle_gaps": "voxelise",
    # porosity, thickness, profiles
    "electrode_thickness": "porosity", "phase_profiles": "porosity",
    # transport
    "TortuosityResult": "tortuosity", "tortuosity_factor": "tortuosity",
    # pores and throats
    "PoreNetwork": "pore_network", "pore_regions": "pore_network",
    # secondary particles: separation and shape
    "extract_particles": "separation", "separate_particles": "separation",
    "ParticleShapes": "particle_shape", "ShapeChange": "particle_shape",
    "ellipsoid_semi_axes": "particle_shape", "krumbein_sphericity": "particle_shape",
    "particle_shapes": "particle_shape", "track_particles": "particle_shape",
    # variable-length results as fixed bins
    "QUANTILES": "distributions", "Histogram": "distributions", "histogram": "distributions",
    "quantiles": "distributions",
    # every metric of one electrode state, and their declaration
    "electrode_metrics": "summary",
    "METRICS": "metric_table", "Coordinate": "metric_table", "Metric": "metric_table",
    "metrics_table": "metric_table",
    # XCT sub-volumes
    "capacity_without_overlap": "subvolumes", "closest_to_mean": "subvolumes",
    "sample_origins": "subvolumes", "subvolume_shape": "subvolumes",
    "measure_phases": "xct",
    # simulation against experiment
    "compare_distributions": "compare", "comparison_table": "compare",
    "realisations_needed": "compare", "select_done": "compare", "summarise": "compare",
}

__getattr__, __dir__, __all__ = lazy_api(
    __name__, _EXPORTS, submodules=("compare", "pore_network", "porosity", "voxelise"))
