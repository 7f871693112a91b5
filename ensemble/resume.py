"""Resuming a store with a spec: what may differ, what may grow, and growing it.

A store remembers the spec it was made for (canonical JSON in its attrs). Running a spec on an
existing store resumes it when the two agree on everything that shapes the results; only how the
sweep runs (``[cluster]``) and where the store lies (``sweep.output``) may differ. With
``extend``, a spec may also ask for more realisations or more compression degrees: the store
grows, and realisations that are done rerun only the stages they lack.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from mesosweep.ensemble import store
from mesosweep.ensemble.plan import degrees, plan
from mesosweep.ensemble.spec import Spec, SpecError, canonical_json, spec_hash, spec_to_dict

FREE = ("cluster.", "sweep.output")  # how and where: never part of what is computed
GROWABLE = ("sweep.realisations", "process.compression_degrees")


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def differences(stored: dict, wanted: dict) -> dict[str, tuple[Any, Any]]:
    """Dotted field → (stored value, wanted value) for every field that differs."""
    a, b = _flat(stored), _flat(wanted)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _grows(field: str, old: Any, new: Any) -> bool:
    if field == "sweep.realisations":
        return isinstance(new, int) and new >= old
    if field == "process.compression_degrees":
        return set(old) <= set(new)
    return False


def check(path: Path, spec: Spec, extend: bool) -> dict[str, tuple[Any, Any]]:
    """The growth the spec asks of the store at ``path`` ({} when it matches); refuse the rest.

    Raises :class:`SpecError` with one line per differing field and what to do.
    """
    attrs = zarr.open_group(str(path), mode="r").attrs
    stored = json.loads(attrs["spec"])
    diff = {k: v for k, v in differences(stored, spec_to_dict(spec)).items()
            if not k.startswith(FREE)}
    # The same file name with other content is another input: not growable, always refused.
    files = json.loads(attrs.get("input_files", "{}"))
    for field, sha in store.input_files(spec).items():
        if field not in diff and files.get(field, sha) != sha:
            diff[field] = (f"file content sha256:{files[field][:12]}",
                           f"file content sha256:{sha[:12]}")
    growth = {k: v for k, v in diff.items() if k in GROWABLE and _grows(k, *v)}
    refused = {k: v for k, v in diff.items() if k not in growth}
    if refused or (growth and not extend):
        lines = [f"sweep.output: {path} holds a sweep of a different spec; "
                 "use another output, or undo these changes:"]
        lines += [f"  {k}: {json.dumps(old)} in the store, {json.dumps(new)} in the spec"
                  for k, (old, new) in (refused | growth).items()]
        if growth and not refused:
            lines.append("  (more realisations or degrees: run with --extend to grow the store)")
        raise SpecError(lines)
    return growth


def grow(path: Path, spec: Spec) -> None:
    """Grow the store to ``spec``'s realisations and degrees; queue what must run again.

    New degrees are appended in the order they come (the ``degree`` coordinate is then not
    sorted: ``ds.sortby("degree")`` sorts it). Realisations already done are queued again: their
    finished stages are reused, only the new calendering runs.
    """
    # Not through the consolidated metadata: it holds the old shapes until re-consolidated.
    group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    old_r = group["realisation"].shape[0]
    old_degrees = [float(d) for d in group["degree"][...]]
    new_degrees = old_degrees + [d for d in degrees(spec) if d not in old_degrees]
    n_r = spec.sweep.realisations
    for name in group.array_keys():
        arr = group[name]
        dims = arr.metadata.dimension_names or ()
        shape = tuple(n_r if d == "realisation" else len(new_degrees) if d == "degree" else s
                      for d, s in zip(dims, arr.shape, strict=True))
        if shape != arr.shape:
            arr.resize(shape)
    group["realisation"][old_r:] = np.arange(old_r, n_r)
    group["degree"][len(old_degrees):] = np.array(new_degrees[len(old_degrees):])
    seeds = group["seed"]
    streams = [str(s) for s in group["stream"][...]]
    for real in plan(spec):
        if real.index >= old_r:
            seeds[real.case_index, real.index] = [real.seeds[s] for s in streams]
    status = group["status"]
    if len(new_degrees) > len(old_degrees):
        done = status[...] == store.DONE
        values = status[...]
        values[done] = store.QUEUED
        status[...] = values
    group.attrs.update({"spec": canonical_json(spec), "spec_hash": spec_hash(spec)})
    store.forget_writers()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(str(path))
