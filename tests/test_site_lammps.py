"""A site's LAMMPS executable runs a stage as plain ``lmp -in in.<stage>.lammps``, and the driver
side builds the result the Python runner writes: the wheel's own ``lmp``, given as "the site's",
ends a tiny stage on the same beads, bit for bit under one rank, with the same result; a
failure reads the same both ways."""

import json
from dataclasses import replace

import numpy as np
import pytest

from mesosweep.errors import StageError
from mesosweep.stages.contract import Launcher, run
from mesosweep.stages.forcefield import load_forcefield, shipped_forcefield
from mesosweep.stages.lammps_data import read_data
from mesosweep.stages.lammps_env import executable
from mesosweep.stages.protocol import RESULT_FILE, STATE_FILE, input_file
from mesosweep.stages.trial import build_trial, trial_params

pytestmark = pytest.mark.lammps

ONE_RANK = (executable("mpiexec"), "-n", "1")
WHEEL = Launcher(ONE_RANK)
SITE = Launcher(ONE_RANK, lammps=executable("lmp"))
# Deterministic fields: all but the wall time and the throughput measured from it.
TIMED = ("wall_s", "atom_steps_per_s")


def _both_ways(tmp_path, params, max_steps=None):
    out = {}
    for name, launcher in (("wheel", WHEEL), ("site", SITE)):
        build_trial(tmp_path / name, params, max_steps=max_steps)
        out[name] = (run(tmp_path / name, launcher),
                     json.loads((tmp_path / name / RESULT_FILE).read_text()))
    return out


def _settles():
    """The trial slurry with a tolerance its density meets before the cap (4 checks)."""
    return trial_params(load_forcefield(shipped_forcefield("slurry")), tolerance=0.5)


def test_a_stage_ends_on_the_same_beads_bit_for_bit_with_the_same_result(tmp_path):
    out = _both_ways(tmp_path, _settles())
    wheel, site = read_data(tmp_path / "wheel" / STATE_FILE), read_data(tmp_path / "site" /
                                                                        STATE_FILE)
    assert np.array_equal(wheel.position_um, site.position_um)
    assert np.array_equal(wheel.box_hi, site.box_hi)
    (w, wj), (s, sj) = out["wheel"], out["site"]
    assert w.converge["density"].converged and s.converge["density"].converged
    for key in set(wj) - set(TIMED) - {"final_thermo"}:
        assert wj[key] == sj[key], key  # steps, ranks, histories, verdicts, version …
    # The log prints thermo with 8 significant digits; the library gives every bit.
    assert sj["final_thermo"].keys() == wj["final_thermo"].keys()
    for key, value in wj["final_thermo"].items():
        assert sj["final_thermo"][key] == pytest.approx(value, rel=1e-7), key
    assert s.wall_s > 0 and s.atom_steps_per_s == pytest.approx(s.atoms * s.steps / s.wall_s)


def test_a_capped_convergence_run_is_recorded_as_not_converged_both_ways(tmp_path):
    strict = replace(_settles(), numerics=replace(_settles().numerics, tolerance=1e-9))
    out = _both_ways(tmp_path, strict)
    for result, _ in out.values():
        record = result.converge["density"]
        assert not record.converged and record.steps == record.check_steps * 4


def test_a_blow_up_fails_the_same_way_with_its_log_tail(tmp_path):
    """A timestep far beyond the stability bound: the watchdog halts both runs at one step."""
    errors = {}
    for name, launcher in (("wheel", WHEEL), ("site", SITE)):
        build_trial(tmp_path / name, _settles())
        path = tmp_path / name / input_file("slurry")
        path.write_text("\n".join(
            "timestep 50" if line.startswith("timestep ") else line
            for line in path.read_text().splitlines()) + "\n")
        with pytest.raises(StageError) as info:
            run(tmp_path / name, launcher)
        errors[name] = info.value
    wheel, site = errors["wheel"], errors["site"]
    assert wheel.reason == site.reason and site.reason.startswith("blow-up: ")
    assert wheel.step == site.step > 0
    assert "ERROR" in site.log_tail
    assert json.loads((tmp_path / "site" / RESULT_FILE).read_text())["status"] == "failed"


def test_a_site_executable_that_never_runs_the_input_reports_its_exit_status(tmp_path):
    build_trial(tmp_path / "x", _settles())
    with pytest.raises(StageError) as info:
        run(tmp_path / "x", Launcher(ONE_RANK, lammps="/bin/false"))
    assert "exit status" in info.value.reason
    assert not (tmp_path / "x" / RESULT_FILE).exists()
