"""The sweep runner: it schedules, records and resumes, and knows no physics.

A spec (:mod:`.spec`, its schema in :mod:`.schema`) expands into a plan of realisations
(:mod:`.plan`); each runs the stages of :mod:`.pipeline` as a Dask task graph
(:mod:`.realisation`) in the folders that :mod:`.layout` owns, with the parameters
:mod:`.params` builds from the spec; results land in one zarr store (:mod:`.store`, grown and
checked by :mod:`.resume`); :mod:`.runner` drives it and publishes :mod:`.events`;
:mod:`.status` reads a store alone. The public API, stated once and loaded on first use::

    from mesosweep.ensemble import load_spec, run_sweep, open_store
"""

from mesosweep._lazy import lazy_api

__getattr__, __dir__, __all__ = lazy_api(__name__, {
    # the sweep file
    "Spec": "spec", "SpecError": "spec", "load_spec": "spec", "parse_spec": "spec",
    "spec_hash": "spec", "canonical_json": "spec",
    # what runs, and where it lies on disk
    "Realisation": "plan", "plan": "plan", "degrees": "plan",
    "STAGES": "pipeline", "Stage": "pipeline",
    "SweepLayout": "layout", "RealisationLayout": "layout",
    # running, and what it tells on the way
    "run_sweep": "runner", "EventBus": "events", "Event": "events",
    # the results store
    "open_store": "store", "QUEUED": "store", "RUNNING": "store", "DONE": "store",
    "FAILED": "store",
    "read_summary": "status", "render_text": "status",
})
