"""Each LAMMPS stage on a tiny system, under 1 and 2 MPI ranks: conservation and known limits."""

import subprocess

import numpy as np
import pytest

from mesosweep.analysis.separation import extract_particles
from mesosweep.stages import calendering, drying, pressing, slurry
from mesosweep.stages.contract import StageOutput, run
from mesosweep.stages.forcefield import load_forcefield, shipped_forcefield
from mesosweep.stages.initial import bead_state
from mesosweep.stages.inputs import Numerics
from mesosweep.stages.lammps_data import CBD_TYPE, read_data
from mesosweep.stages.lammps_env import child_environment, executable
from mesosweep.stages.protocol import STATE_FILE, input_file
from mesosweep.stages.structure import build_structure
from mesosweep.stages.synthetic import synthetic_volume

pytestmark = [pytest.mark.lammps, pytest.mark.slow]

NUMERICS = Numerics(timestep_fraction=0.1, check_steps=400, max_steps=6000, relax_max_steps=3000,
                    tolerance=0.005)
# The drying's cap covers the plane's way down from the slurry's top and back as well.
DRYING = Numerics(timestep_fraction=0.1, check_steps=400, max_steps=200_000,
                  relax_max_steps=3000, tolerance=0.005)


@pytest.fixture(scope="module")
def initial():
    rng = np.random.default_rng(3)
    db = extract_particles(synthetic_volume(12, (2.0, 4.0), 0.642, rng), 0.642)
    s = build_structure(db, box_um=(10.0, 10.0, 60.0), am_volume_fraction=0.05,
                        am_mass_percent=96.0, cbd_mass_percent=4.0, am_density_g_cm3=4.68,
                        cbd_density_g_cm3=0.95, cbd_diameter_um=6.2, cbd_check_diameter_um=1.3,
                        rng=rng)
    return bead_state(s)


def _launcher(ranks):
    return [executable("mpiexec"), "-n", str(ranks)]


def _under_1_and_2_ranks(stage, tmp_path_factory, build) -> dict[int, StageOutput]:
    """``stage`` built by ``build(directory)`` and run under 1 and 2 ranks: its outputs."""
    out = {}
    for ranks in (1, 2):
        d = tmp_path_factory.mktemp(f"{stage.STAGE}{ranks}")
        build(d)
        assert run(d, _launcher(ranks)).ranks == ranks
        out[ranks] = stage.read_output(d)
    return out


def _structure(state) -> StageOutput:
    return StageOutput("structure", None, state, {})


SLURRY = slurry.SlurryParams(
    forcefield=load_forcefield(shipped_forcefield("slurry")), temperature_K=300.0,
    pressure_Pa=1e5, solid_content_percent=69.0, cbd_dried_diameter_um=1.3,
    cbd_density_g_cm3=0.95, numerics=NUMERICS, seed=17)


@pytest.fixture(scope="module")
def slurry_runs(initial, tmp_path_factory):
    return _under_1_and_2_ranks(slurry, tmp_path_factory, lambda d: slurry.build_inputs(
        SLURRY, _structure(initial), d))


def test_the_stage_input_reruns_with_plain_lmp(slurry_runs, tmp_path):
    """The input a stage directory holds is the whole stage: bare ``lmp -in`` in a copy of the
    directory (its data file and input only) ends on the same beads, bit for bit, as the
    runner did under one rank, convergence loop included."""
    ours = slurry_runs[1].directory
    for name in (slurry.INPUT_DATA, input_file("slurry")):
        (tmp_path / name).write_bytes((ours / name).read_bytes())
    subprocess.run([executable("lmp"), "-in", input_file("slurry")], cwd=tmp_path,
                   env=child_environment(), check=True, capture_output=True)
    mine, bare = read_data(ours / STATE_FILE), read_data(tmp_path / STATE_FILE)
    assert np.array_equal(mine.position_um, bare.position_um)
    assert np.array_equal(mine.box_hi, bare.box_hi)
    assert (tmp_path / "converge-density.txt").read_text() == \
        (ours / "converge-density.txt").read_text()


def test_slurry_conserves_beads_and_mass_and_densifies(initial, slurry_runs):
    expected_cbd = slurry.solvent_laden_density(initial, 1.3, 0.95, 69.0)
    laden = initial.with_(density_g_cm3=np.where(initial.type == CBD_TYPE, expected_cbd,
                                                 initial.density_g_cm3))
    for ranks, out in slurry_runs.items():
        state, fig = out.state, out.figures
        assert out.run.ranks == ranks and state.n == initial.n
        assert np.allclose(state.density_g_cm3[state.type == CBD_TYPE], expected_cbd)
        # Mass: AM beads unchanged, CBD beads carry solvent; nothing created or lost.
        assert np.isclose(state.mass_pg[state.type != CBD_TYPE].sum(),
                          initial.mass_pg[initial.type != CBD_TYPE].sum())
        # Solvent mass is conserved too, and NPT at 1e5 Pa compresses the dilute initial box.
        assert np.isclose(state.mass_pg.sum(), laden.mass_pg.sum())
        assert fig["slurry_density_g_cm3"] > 1.2 * laden.mass_pg.sum() / np.prod(initial.box_um)


def test_slurry_one_and_two_ranks_agree(slurry_runs):
    # Same seed; MPI changes the order of force sums, so trajectories differ in the last digits
    # and then chaotically: agreement is statistical. Stated tolerance: 10 % on the density.
    d1 = slurry_runs[1].figures["slurry_density_g_cm3"]
    d2 = slurry_runs[2].figures["slurry_density_g_cm3"]
    assert abs(d1 - d2) / d1 < 0.10


DRIED_FF = load_forcefield(shipped_forcefield("dried"))


def _dry(upstream: StageOutput, d, seed: int):
    return drying.build_inputs(drying.DryingParams(
        forcefield=DRIED_FF, temperature_K=353.0, dried_porosity=0.506,
        cbd_dried_diameter_um=1.3, cbd_density_g_cm3=0.95, speed_um_per_us=8.0,
        numerics=DRYING, seed=seed), upstream, d)


@pytest.fixture(scope="module")
def dried_runs(slurry_runs, tmp_path_factory):
    return _under_1_and_2_ranks(drying, tmp_path_factory, lambda d: _dry(slurry_runs[1], d, 5))


def test_drying_shrinks_cbd_and_settles_on_the_collector(slurry_runs, dried_runs):
    slurry_state = slurry_runs[1].state
    for out in dried_runs.values():
        d, state, fig = out.directory, out.state, out.figures
        cbd = state.type == CBD_TYPE
        assert np.allclose(state.diameter_um[cbd], 1.3)
        assert np.allclose(state.density_g_cm3[cbd], 0.95)
        assert state.box_lo[2] == 0.0
        # Nothing sinks through the current collector (a few % overlap with the wall at most).
        assert (state.position_um[:, 2] - 0.5 * state.diameter_um).min() > -0.1
        # The plane went down to the target thickness; the film is much thinner than the slurry.
        target = float((d / "target.txt").read_text().split()[0])
        assert fig["dried_top_um"] < 0.8 * slurry_state.box_um[2]
        assert fig["dried_top_um"] >= 0.95 * target
        # The mean surface lies below the highest bead, within a bead or two of it.
        assert fig["dried_top_um"] - 3.0 < fig["dried_thickness_um"] < fig["dried_top_um"]
        # Every secondary is still whole: its bonds keep their lattice lengths within 20 %.
        a, b = state.bonds[:, 1], state.bonds[:, 2]
        length = np.linalg.norm(state.unwrapped()[a] - state.unwrapped()[b], axis=1)
        spacing = 1.593 * (np.pi / 6) ** (1 / 3)
        rest = np.where(state.bonds[:, 0] == 1, 1.0, np.sqrt(2.0)) * spacing
        assert np.abs(length / rest - 1.0).max() < 0.2


def test_drying_one_and_two_ranks_agree(slurry_runs, dried_runs, tmp_path):
    """Statistical agreement over thermostat seeds: one tiny film's mean thickness varies by
    ~5 % (sd) from seed to seed, so one seed per rank count cannot tell ranks apart. Six seeds
    each; stated tolerance: the means within 3 standard errors of their difference and 5 %."""
    thickness = {1: [], 2: []}
    for ranks in (1, 2):
        thickness[ranks].append(dried_runs[ranks].figures["dried_thickness_um"])
        for seed in range(6, 11):
            d = tmp_path / f"dry{ranks}-{seed}"
            _dry(slurry_runs[1], d, seed)
            run(d, _launcher(ranks))
            thickness[ranks].append(drying.read_output(d).figures["dried_thickness_um"])
    t1, t2 = (np.asarray(thickness[r]) for r in (1, 2))
    stderr = np.hypot(t1.std(ddof=1) / np.sqrt(t1.size), t2.std(ddof=1) / np.sqrt(t2.size))
    assert abs(t1.mean() - t2.mean()) < 3 * stderr, thickness
    assert abs(t1.mean() - t2.mean()) / t1.mean() < 0.05, thickness


def _run_steps(protocol) -> int:
    """Steps of the first fixed-length run in a protocol."""
    return next(int(line.split()[1]) for block in protocol.blocks
                for line in getattr(block, "lines", ()) if line.startswith("run "))


# 20 points apart: the tiny film (9.4 µm, about three secondaries thick) springs back by ~20 %
# of its pressed thickness at 30 % (8.22 µm at 10 %; 6.60 pressed, 7.90 released at 30 %), so
# a 10-point step could be undone. In a film 4.6 µm thick (one or two secondaries) the
# springback reached 30 %: too few secondaries to rearrange, they are squeezed and rebound.
DEGREES = (0.1, 0.3)


def test_calendering_compresses_and_springs_back(dried_runs, tmp_path):
    """Pressings chain through the degrees (each on from the last); each release springs back."""
    dried = dried_runs[1]
    fig = dried.figures
    release_params = calendering.ReleaseParams(forcefield=DRIED_FF, temperature_K=333.0,
                                               speed_um_per_us=8.0, numerics=NUMERICS, seed=9)
    out = {}
    for ranks in (1, 2):
        upstream = dried
        for degree in DEGREES:
            p = tmp_path / f"press{degree}-{ranks}"
            press = pressing.build_inputs(pressing.PressingParams(
                forcefield=DRIED_FF, temperature_K=333.0, compression_degree=degree,
                speed_um_per_us=8.0, numerics=NUMERICS, seed=9), upstream, p)
            pressed = run(p, _launcher(ranks))
            # The plane went down from where the last pressing left it, by the degree's share.
            down = _run_steps(press)
            assert pressed.steps == down and (p / pressing.PRESSED).exists()
            upstream = pressing.read_output(p)
            c = tmp_path / f"cal{degree}-{ranks}"
            release = calendering.build_inputs(release_params, upstream, c)
            result = run(c, _launcher(ranks))
            assert result.ranks == ranks
            # The plane's return ends once the film has parted from it, short of the film's top.
            back = result.steps - result.converge["relax"].steps
            assert 0 < back < _run_steps(release)
            assert result.converge["relax"].steps <= NUMERICS.relax_max_steps  # its cap holds
            out[degree, ranks] = calendering.read_output(c).figures
    for (degree, _), f in out.items():
        assert np.isclose(f["pressed_thickness_um"], (1 - degree) * fig["dried_thickness_um"])
        # Released, the electrode regains part of its thickness but stays thinner than it dried.
        assert 0.9 * f["pressed_thickness_um"] < f["calendered_thickness_um"]
        assert f["calendered_thickness_um"] < fig["dried_thickness_um"]
    for ranks in (1, 2):
        assert (out[0.3, ranks]["calendered_thickness_um"]
                < out[0.1, ranks]["calendered_thickness_um"])
    # 1 and 2 ranks agree statistically: 10 % on the calendered thickness.
    for degree in DEGREES:
        t1, t2 = (out[degree, r]["calendered_thickness_um"] for r in (1, 2))
        assert abs(t1 - t2) / t1 < 0.10


def test_every_step_cap_takes_effect(slurry_runs, tmp_path):
    """numerics caps whole stages: the slurry's push-off and density checks together, the
    drying's plane (down and back) and relaxation together; a cap that leaves no check is
    refused before LAMMPS starts, naming the field to raise."""
    import dataclasses

    from mesosweep.errors import StageError

    capped = dataclasses.replace(NUMERICS, max_steps=slurry.PUSH_OFF_STEPS + 1000)
    d = tmp_path / "slurry"
    slurry.build_inputs(dataclasses.replace(SLURRY, numerics=capped), _structure(
        slurry_runs[1].state), d)
    assert run(d, _launcher(1)).steps <= capped.max_steps
    too_low = dataclasses.replace(NUMERICS, max_steps=slurry.PUSH_OFF_STEPS)
    with pytest.raises(StageError, match="numerics.slurry_max_steps"):
        slurry.build_inputs(dataclasses.replace(SLURRY, numerics=too_low),
                            _structure(slurry_runs[1].state), tmp_path / "refused")

    def dry(max_steps: int, where: str):
        params = drying.DryingParams(
            forcefield=DRIED_FF, temperature_K=353.0, dried_porosity=0.506,
            cbd_dried_diameter_um=1.3, cbd_density_g_cm3=0.95, speed_um_per_us=8.0,
            numerics=dataclasses.replace(DRYING, max_steps=max_steps), seed=5)
        return drying.build_inputs(params, slurry_runs[1], tmp_path / where)

    down = _run_steps(dry(10**9, "free"))  # the plane's way down, in steps
    relax = DRYING.relax_check + 200
    protocol = dry(2 * down + relax, "capped")
    assert protocol.converge_blocks[0].max_steps == relax  # what is left after the plane
    assert run(tmp_path / "capped", _launcher(1)).steps <= 2 * down + relax
    with pytest.raises(StageError, match="numerics.drying_max_steps"):
        dry(2 * down, "refused-drying")
