"""What a sweep is doing, read from its store alone: counts, failures, throughput, ETA.

Everything here is a pure function of the dataset that ``xarray.open_zarr`` gives for a results
store (see :mod:`ensemble.store`), plus the current time. No scheduler, no batch queue, no
driver, no work directory is consulted (whoever also shows the batch jobs in flight asks
:mod:`cluster.queue` for them), so the same answer comes out while a sweep runs, after it ended, and
after its driver died. What the store cannot say — whether its driver still lives, how far
each running stage is — is read from the sweep's work folder by :mod:`ensemble.observe` and
passed in: :func:`observed` adds it, so that realisations a dead driver left ``running`` show
as *stale*, and each running one shows its stages' progress.

:func:`summarise` gives a JSON-ready dict; :func:`render_text` turns it into one screen of text.
``mesosweep status`` and the live page (:mod:`mesosweep.live`) both show that dict (through
:func:`ensemble.observe.read_status`), so the two views agree by construction.

Throughput is measured on the most recent finishes, not the whole history, so that a sweep
resumed after a pause is not judged by the pause: with the last ``RATE_WINDOW`` realisations
that finished *done*, rate = count / (latest finish − earliest start among them). Counting from
the earliest start rather than between finishes keeps the rate right when several workers
finish together. ETA = (queued + running) / rate: realisations in flight count as a whole, so
the estimate errs long by at most one realisation per worker.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import xarray as xr

from mesosweep.ensemble.layout import realisation_label
from mesosweep.ensemble.store import DONE, FAILED, QUEUED, RUNNING, STAGES

STATES = ("queued", "running", "done", "failed")  # index = flag value in the store
STALE = "stale"  # running in the store, but the driver that ran it is gone
RATE_WINDOW = 20  # finishes the throughput is measured on
TIMELINE_LIMIT = 500  # finished realisations sent to the page's timeline (the latest ones)
FAILURE_LIMIT = 50  # failed realisations listed with their log tails (the latest ones)
RUNNING_LIMIT = 50  # realisations in flight listed by name
NUMBERS = ("status", "stage_status", "stage_wall_time", "attempts", "started_at",
           "finished_at", "wall_time")  # read whole: every realisation counts
STRINGS = ("host", "job_id", "error", "log_tail")  # read only for the realisations listed
VARIABLES = NUMBERS + STRINGS
READ_TRIES = 3  # a read that met a chunk being replaced by a worker: try again


def _retrying(read: Callable[[], Any]) -> Any:
    """``read()``, tried again if it fails.

    Workers rewrite their chunks while we read and zarr has no locks. zarr replaces a chunk
    file atomically, but a shared filesystem (NFS, Lustre) can still fail one read while a
    chunk is being replaced; such a read fails loudly (missing or undecodable chunk) rather
    than returning wrong values, so it is simply retried.
    """
    last: Exception | None = None
    for attempt in range(READ_TRIES):
        try:
            return read()
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried, then re-raised below
            last = exc
            time.sleep(0.1 * (attempt + 1))
    assert last is not None
    raise last


def _open(path: str | os.PathLike[str]) -> xr.Dataset:
    # chunks=None: plain lazy arrays, no dask. In the driver a distributed Client is the
    # default scheduler, and a dask read would queue behind the realisations on the (busy,
    # single-threaded) workers until the sweep ended.
    ds = xr.open_zarr(path, chunks=None)
    return ds[[v for v in VARIABLES if v in ds.variables]]


def load(path: str | os.PathLike[str]) -> xr.Dataset:
    """The variables status needs, all read into memory from the store at ``path``."""

    def read() -> xr.Dataset:
        with _open(path) as ds:
            return ds.load()

    return _retrying(read)


def _epoch_seconds(var: xr.DataArray) -> np.ndarray:
    """Seconds since 1970 (UTC) as floats, NaN where unset; xarray may or may not have decoded
    the CF times to datetime64, depending on its version and the fill values."""
    values = np.asarray(var.values)
    if np.issubdtype(values.dtype, np.datetime64):
        out = values.astype("datetime64[ns]").astype(np.int64).astype(float) / 1e9
        out[np.isnat(values)] = np.nan
        return out
    return values.astype(float)


def iso(seconds: float | None) -> str | None:
    """UTC ISO-8601 time of an epoch time, or None when unset."""
    if seconds is None or not np.isfinite(seconds):
        return None
    return datetime.fromtimestamp(float(seconds), UTC).isoformat(timespec="seconds")


def _counts(flags: np.ndarray) -> dict[str, int]:
    """How many of ``flags`` are queued, running, done, failed (unknown flags are ignored)."""
    flags = np.asarray(flags).ravel()
    flags = flags[(flags >= QUEUED) & (flags <= FAILED)].astype(np.int64)
    n = np.bincount(flags, minlength=len(STATES))
    return {name: int(n[k]) for k, name in enumerate(STATES)}


def _text(value: Any) -> str:
    """A store string as plain text (object arrays may hold None or bytes)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def first_line(text: str) -> str:
    """The first non-empty line of ``text``."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""



def _sweep_name(ds: xr.Dataset) -> str:
    try:
        return str(json.loads(ds.attrs.get("spec", "{}"))["sweep"]["name"])
    except (ValueError, KeyError, TypeError):
        return ""


def throughput(started: np.ndarray, finished: np.ndarray,
               window: int = RATE_WINDOW) -> tuple[float | None, int]:
    """Realisations per hour over the last ``window`` finishes, and how many were used.

    ``started``/``finished`` are epoch seconds of the realisations that finished done. None when
    fewer than one finish has a positive span (nothing to measure yet).
    """
    ok = np.isfinite(started) & np.isfinite(finished)
    started, finished = started[ok], finished[ok]
    if finished.size == 0:
        return None, 0
    last = np.argsort(finished)[-window:]
    span = float(finished[last].max() - started[last].min())
    if span <= 0:
        return None, int(last.size)
    return last.size / span * 3600.0, int(last.size)


def summarise(ds: xr.Dataset, now: float | None = None,
              store: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Everything the status views show, as plain JSON-ready values.

    ``ds`` is the store (or :func:`load` of it); ``now`` is epoch seconds (default: the clock),
    used for elapsed times and the ETA's date.
    """
    now = time.time() if now is None else now
    cases = [_text(c) for c in ds["case"].values]
    reals = [int(r) for r in ds["realisation"].values]
    stages = [_text(s) for s in ds["stage"].values] if "stage" in ds.coords else list(STAGES)
    status = np.asarray(ds["status"].values)
    stage_status = np.asarray(ds["stage_status"].values)
    stage_wall = np.asarray(ds["stage_wall_time"].values, dtype=float)
    attempts = np.asarray(ds["attempts"].values)
    started = _epoch_seconds(ds["started_at"])
    finished = _epoch_seconds(ds["finished_at"])
    wall = np.asarray(ds["wall_time"].values, dtype=float)

    def string(name: str, c: int, r: int) -> str:
        # Index before .values: on a lazily opened store this reads one chunk, not all.
        return _text(ds[name][c, r].values[()]) if name in ds else ""

    per_case = []
    for c, case in enumerate(cases):
        done_stage = stage_status[c] == DONE
        mean_stage = {}
        for k, stage in enumerate(stages):
            w = stage_wall[c, :, k][done_stage[:, k] & np.isfinite(stage_wall[c, :, k])]
            mean_stage[stage] = round(float(w.mean()), 3) if w.size else None
        done_real = (status[c] == DONE) & np.isfinite(wall[c])
        per_case.append({
            "case": case,
            "total": len(reals),
            "realisations": _counts(status[c]),
            "mean_wall_s": round(float(wall[c][done_real].mean()), 3) if done_real.any() else None,
            "stages": {stage: {**_counts(stage_status[c, :, k]), "mean_wall_s": mean_stage[stage]}
                       for k, stage in enumerate(stages)},
        })
    totals = _counts(status)

    rate, window = throughput(started[status == DONE], finished[status == DONE])
    remaining = totals["queued"] + totals["running"]
    if remaining == 0:
        eta_s: float | None = 0.0
    elif rate:
        eta_s = remaining / rate * 3600.0
    else:
        eta_s = None

    def ordered(mask: np.ndarray, times: np.ndarray) -> list[tuple[int, int]]:
        """(case, realisation) where ``mask``, by ``times`` (unset last), stable."""
        cs, rs = np.nonzero(mask)
        t = np.where(np.isfinite(times[cs, rs]), times[cs, rs], np.inf)
        return [(int(cs[i]), int(rs[i])) for i in np.argsort(t, kind="stable")]

    # Listed realisations are picked before their strings are read: a store of thousands of
    # failures costs no more to summarise than one with a few.
    in_flight = ordered(status == RUNNING, started)  # longest running first
    def ident(c: int, r: int) -> dict[str, Any]:
        return {"case": cases[c], "realisation": reals[r],
                "label": realisation_label(cases[c], reals[r])}

    running = []
    for c, r in in_flight[:RUNNING_LIMIT]:
        flags = stage_status[c, r]
        now_in = [k for k, f in enumerate(flags) if f == RUNNING]
        pending = [k for k, f in enumerate(flags) if f != DONE]
        k = now_in[-1] if now_in else (pending[0] if pending else None)
        running.append({
            **ident(c, r),
            "stage": stages[k] if k is not None else None,
            "stages_done": int((flags == DONE).sum()), "stages_total": len(stages),
            "attempt": int(attempts[c, r]), "host": string("host", c, r),
            "job_id": string("job_id", c, r), "started_at": iso(started[c, r]),
            "elapsed_s": round(now - started[c, r], 1) if np.isfinite(started[c, r]) else None,
        })

    failed = ordered(status == FAILED, finished)  # in the order they failed
    failures = []
    for c, r in failed[-FAILURE_LIMIT:]:
        flags = stage_status[c, r]
        bad = [stages[k] for k, f in enumerate(flags) if f == FAILED]
        failures.append({
            **ident(c, r),
            "stage": bad[0] if bad else None, "attempts": int(attempts[c, r]),
            "error": first_line(string("error", c, r)), "log_tail": string("log_tail", c, r),
            "host": string("host", c, r), "job_id": string("job_id", c, r),
            "finished_at": iso(finished[c, r]),
        })

    ended = ordered(((status == DONE) | (status == FAILED)) & np.isfinite(finished), finished)
    timeline = [{
        **ident(c, r),
        "status": STATES[int(status[c, r])],
        "start": float(started[c, r]) if np.isfinite(started[c, r]) else None,
        "end": float(finished[c, r]),
        "wall_s": round(float(wall[c, r]), 3) if np.isfinite(wall[c, r]) else None,
    } for c, r in ended[-TIMELINE_LIMIT:]]

    return {
        "store": str(store) if store is not None else None,
        "sweep": _sweep_name(ds),
        "spec_hash": str(ds.attrs.get("spec_hash", ""))[:12],
        "as_of": iso(now),
        "now": now,
        "stages": stages,
        "totals": {**totals, "total": int(status.size)},
        "complete": remaining == 0,
        "throughput_per_hour": round(rate, 3) if rate else None,
        "throughput_window": window,
        "eta_s": round(eta_s, 1) if eta_s is not None else None,
        "eta_at": iso(now + eta_s) if eta_s else None,
        "cases": per_case,
        "running": running,
        "running_total": len(in_flight),
        "failures": failures,
        "failed_total": len(failed),
        "timeline": timeline,
        "timeline_total": len(ended),
    }


def read_summary(path: str | os.PathLike[str], now: float | None = None) -> dict[str, Any]:
    """:func:`summarise` of the store at ``path``, reading no more than it needs.

    Each realisation has its own chunk of each variable, so a read costs one small file per
    realisation and variable: the numbers are read whole, the strings (host, error, log tail)
    only for the realisations that are listed (running or failed).
    """

    def read() -> dict[str, Any]:
        with _open(path) as ds:
            for name in NUMBERS:
                if name in ds:
                    ds[name].load()
            return summarise(ds, now=now, store=path)

    return _retrying(read)


def observed(summary: dict[str, Any], driver: dict[str, Any] | None,
             stages: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The summary with what the work folder says: the driver and the stages in flight.

    ``driver`` is the lease the work folder holds (:func:`ensemble.observe.driver_state`:
    ``alive``, and ``last_seen``, epoch seconds of its last sign of life), None when there is
    none. ``stages`` maps a running realisation's label to the progress of its running stages
    (:class:`ensemble.events.StageProgress` as dicts). When realisations are running and no
    live driver holds the lease, the driver is gone: they are counted and listed as
    ``stale`` instead of ``running``, and the ETA is unknown (nothing moves until the sweep's
    command is run again). Every count dict gains a ``stale`` count (0 while the driver
    lives). Returns a new dict; ``summary`` is left as it is.
    """
    out = {**summary, "driver": driver}
    running = out["totals"]["running"]
    gone = running > 0 and not (driver and driver.get("alive"))
    out["driver_gone_since"] = iso(driver.get("last_seen")) if gone and driver else None
    out["driver_gone"] = gone

    def moved(counts: dict[str, Any]) -> dict[str, Any]:
        if not gone:
            return {**counts, STALE: 0}
        return {**counts, "running": 0, STALE: counts["running"]}

    out["totals"] = moved(out["totals"])
    out["cases"] = [{**c, "realisations": moved(c["realisations"]),
                     "stages": {k: moved(v) for k, v in c["stages"].items()}}
                    for c in out["cases"]]
    listed = [{**e, "stages_in_flight": (stages or {}).get(e["label"], [])}
              for e in out["running"]]
    out["stale"], out["stale_total"] = (listed, out["running_total"]) if gone else ([], 0)
    if gone:
        out["running"], out["running_total"] = [], 0
        out["complete"] = False
        out["eta_s"] = out["eta_at"] = None
    else:
        out["running"] = listed
    return out


# --- text -----------------------------------------------------------------------------------

def duration(seconds: float | None) -> str:
    """A duration a person reads at a glance: '42 s', '3 min 05 s', '2 h 10 min', '3 d 4 h'."""
    if seconds is None or not np.isfinite(seconds):
        return "unknown"
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _bar(done: int, failed: int, total: int, width: int = 24) -> str:
    """``[####x-----]``: '#' done, 'x' failed, '-' still to go."""
    if total <= 0:
        return "[" + " " * width + "]"
    d = round(width * done / total)
    f = min(round(width * failed / total), width - d)
    return "[" + "#" * d + "x" * f + "-" * (width - d - f) + "]"


def progress_line(p: dict[str, Any]) -> str:
    """A running stage's progress (a :class:`ensemble.events.StageProgress` as a dict) in a
    few words: steps of the cap, the quantity its stopping rule watches and its latest change
    against the tolerance, the time left at most."""
    parts = [f"{p['steps']}/{p['max_steps']} steps"]
    if p.get("quantity") is not None and p.get("value") is not None:
        rule = ""
        if p.get("change") is not None and p.get("tolerance"):
            what = "still to come" if p.get("rule") == "extrapolated" else "change"
            rule = (f", {what} {100 * p['change']:.2g}% (tolerance "
                    f"{100 * p['tolerance']:.2g}%, {p['calm']}/{p['patience']} settled)")
        parts.append(f"{p['quantity']} {p['value']:.4g} {p['units']}".rstrip() + rule)
    parts.append(f"at most {duration(p['remaining_s'])} left"
                 if p.get("remaining_s") is not None else "time left unknown")
    return " · ".join(parts)


def render_text(summary: dict[str, Any], max_failures: int = 8, max_running: int = 6) -> str:
    """One screen: totals and bar, throughput and ETA, case × stage counts, running, failures."""
    t = summary["totals"]
    lines = [f"sweep {summary['sweep'] or '?'} · store {summary['store'] or '?'} · "
             f"{(summary['as_of'] or '').replace('T', ' ').replace('+00:00', ' UTC')}"]
    pct = 100.0 * t["done"] / t["total"] if t["total"] else 0.0
    lines.append(f"realisations {t['total']}: {t['queued']} queued, {t['running']} running, "
                 f"{t['done']} done, {t['failed']} failed  "
                 f"{_bar(t['done'], t['failed'], t['total'])} {pct:3.0f}% done")
    if t.get(STALE):
        lines[-1] += f", {t[STALE]} stale"
    rate = summary["throughput_per_hour"]
    if summary.get("driver_gone"):
        pace = "ETA unknown: the driver is gone"
    elif summary["complete"]:
        pace = "finished: nothing queued or running"
    elif rate:
        at = (summary["eta_at"] or "").replace("T", " ").replace("+00:00", " UTC")
        pace = f"ETA {duration(summary['eta_s'])} (about {at})"
    else:
        pace = "ETA unknown until a realisation finishes"
    rate_text = (f"{rate:.3g} realisations/h (last {summary['throughput_window']} done)"
                 if rate else "no realisation done yet")
    lines.append(f"throughput {rate_text} · {pace}")
    lines.append("")
    stale = bool(t.get(STALE))  # a column of its own only when the driver is gone
    header = f"{'case':<14}{'stage':<14}{'queued':>8}{'running':>9}{'done':>7}{'failed':>8}" \
             + (f"{STALE:>7}" if stale else "") + f"{'mean s':>9}"
    lines += [header, "-" * len(header)]

    def row(case: str, stage: str, c: dict[str, Any]) -> str:
        mean = c.get("mean_wall_s")
        return (f"{case:<14.14}{stage:<14}{c['queued']:>8}{c['running']:>9}{c['done']:>7}"
                f"{c['failed']:>8}" + (f"{c[STALE]:>7}" if stale else "")
                + f"{(f'{mean:.1f}' if mean is not None else '-'):>9}")

    for case in summary["cases"]:
        lines.append(row(case["case"], "realisations",
                         {**case["realisations"], "mean_wall_s": case["mean_wall_s"]}))
        for stage, c in case["stages"].items():
            lines.append(row("", stage, c))
    driver = summary.get("driver")
    if summary.get("driver_gone"):
        since = (summary.get("driver_gone_since") or "").replace("T", " ").replace("+00:00",
                                                                                  " UTC")
        lines += ["", f"driver gone{' since ' + since if since else ' (no lease)'}: "
                      f"{summary['stale_total']} realisation(s) it had in flight are stale; "
                      "rerun its command to resume"]
    elif driver and driver["host"]:
        lines += ["", f"driver: host {driver['host']}, pid {driver['pid']}, since "
                      f"{driver['since']}, heartbeat {driver['heartbeat']} "
                      f"({'running' if driver['alive'] else 'gone: rerun its command to resume'})"]
    for key in ("running", STALE):
        total = summary.get(f"{key}_total", 0)
        if not total:
            continue
        lines.append("")
        lines.append(f"{key} ({total}):")
        for e in summary[key][:max_running]:
            where = f" on {e['host']}" if e["host"] else ""
            job = f" (job {e['job_id']})" if e["job_id"] else ""
            lines.append(f"  {e['label']} in {e['stage'] or '?'} for "
                         f"{duration(e['elapsed_s'])}, attempt {e['attempt']}{where}{job}")
            for p in e.get("stages_in_flight", []) if key == "running" else []:
                lines.append(f"    {p['stage']}: {progress_line(p)}")
        if total > max_running:
            lines.append(f"  … and {total - max_running} more")
    if summary["failed_total"]:
        lines.append("")
        lines.append(f"failed ({summary['failed_total']}):")
        shown = summary["failures"][-max_failures:]
        for e in shown:
            lines.append(f"  {e['label']} in {e['stage'] or '?'} after {e['attempts']} "
                         f"attempt(s): {e['error'] or '(no error recorded)'}")
        if summary["failed_total"] > len(shown):
            lines.append(f"  … and {summary['failed_total'] - len(shown)} more "
                         "(--json lists the latest, the store's 'error' variable all)")
    return "\n".join(lines)
