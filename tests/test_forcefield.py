"""Force-field files: refused when non-physical, the paper's mixing rule, the timestep bound,
and the intra- / inter-particle distinction checked in LAMMPS."""

import dataclasses
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mesosweep.stages.forcefield import (
    ForceFieldError,
    bond_period_us,
    check_timestep,
    lj_pair,
    load_forcefield,
    pair_commands,
    rayleigh_time_us,
    shipped_forcefield,
    stable_timestep_us,
)

SLURRY = shipped_forcefield("slurry").read_text()


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    assert old in SLURRY
    path = tmp_path / "ff.toml"
    path.write_text(SLURRY.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old,new,words", [
    ("youngs_modulus_GPa = 135.0", "youngs_modulus_GPa = -135.0",
     ["materials.am.youngs_modulus_GPa", "-135", ">= 1e-06"]),
    ("youngs_modulus_GPa = 135.0", "youngs_modulus_GPa = 1e308",
     ["materials.am.youngs_modulus_GPa", "1e+308", "<= 2000", "diamond"]),
    ("friction = 0.3", "friction = 1e300", ["contact.am.friction", "<= 10"]),
    ("bond_stiffness_N_m = 500.0", "bond_stiffness_N_m = 1e300",
     ["intra.bond_stiffness_N_m", "<= 10000000.0"]),
    ("poisson_ratio = 0.3", "poisson_ratio = 0.5", ["poisson_ratio", "0.5", "< 0.5"]),
    ("poisson_ratio = 0.3", "poisson_ratio = -1.0", ["poisson_ratio", "> -1"]),
    ("youngs_modulus_GPa = 135.0\n", "", ["materials.am.youngs_modulus_GPa", "missing"]),
    ("surface_energy_J_m2 = 0.01", "surface_energy_J_m2 = -0.01", ["surface_energy_J_m2", ">= 0"]),
    ("cutoff_um = 3.2", "cutoff_um = 1.0", ["lj.am.cutoff_um", "> 1.419"]),
    ('source = "paper Table 1 (NMC111, literature refs 39-41)"', "", ["materials.am.source"]),
])
def test_non_physical_or_missing_values_are_refused(tmp_path, old, new, words):
    with pytest.raises(ForceFieldError) as err:
        load_forcefield(_edited(tmp_path, old, new))
    text = str(err.value)
    assert str(tmp_path / "ff.toml") in text
    for word in words:
        assert word in text, (word, text)


def test_a_set_overlays_its_base_and_must_source_what_it_changes(tmp_path):
    (tmp_path / "slurry.toml").write_text(SLURRY)
    child = tmp_path / "child.toml"
    head = 'schema_version = 1\nbase = "slurry"\n'
    child.write_text(head + '[lj.cbd]\nepsilon_fJ = 7.0\nsource = "test value"\n')
    ff, base = load_forcefield(child), load_forcefield(tmp_path / "slurry.toml")
    assert ff.name == "child" and ff.lj["cbd"].epsilon_fJ == 7.0
    assert ff.lj["cbd"].sigma_um == base.lj["cbd"].sigma_um  # the rest of the table is kept
    assert ff.lj["cbd"].source == "test value" and ff.materials == base.materials
    refused = {
        '[lj.cbd]\nepsilon_fJ = 7.0\n': ["lj.cbd", "own source"],  # the base's source would lie
        'base = "../slurry"\n': ["base", "same folder"],  # no paths out of the folder
        'base = "child"\n': ["loop"],
        'base = "nowhere"\n': ["nowhere", "not found"],
    }
    for text, words in refused.items():
        child.write_text("schema_version = 1\n" + text if text.startswith("base") else head + text)
        with pytest.raises(ForceFieldError) as err:
            load_forcefield(child)
        assert str(child) in str(err.value)
        for word in words:
            assert word in str(err.value), (word, str(err.value))


def test_the_calendering_table_is_optional_checked_and_bounds_the_timestep(tmp_path):
    """Without [calendering] the film is elastic; its values are refused when non-physical; binder
    bridges stiff enough to outpace the AM Rayleigh time shorten the timestep."""
    elastic = load_forcefield(shipped_forcefield("slurry"))
    assert not elastic.calendering.bridges and elastic.calendering.dwell_us == 0.0
    (tmp_path / "slurry.toml").write_text(SLURRY)
    head = 'schema_version = 1\nbase = "slurry"\n[calendering]\nsource = "test"\n'
    for line, words in [("cbd_nanoporosity = 1.0", ["cbd_nanoporosity", "< 1"]),
                        ("bridge_stiffness_N_m = -1.0", ["bridge_stiffness_N_m", ">= 0"]),
                        ("bridges = true", ["unknown", "bridges"])]:
        (tmp_path / "bad.toml").write_text(head + line + "\n")
        with pytest.raises(ForceFieldError) as err:
            load_forcefield(tmp_path / "bad.toml")
        assert all(w in str(err.value) for w in words), str(err.value)
    beads = {"am": (1.593, 4.68), "cbd": (1.3, 0.95)}
    (tmp_path / "soft.toml").write_text(head + "bridge_stiffness_N_m = 500.0\n")
    (tmp_path / "stiff.toml").write_text(head + "bridge_stiffness_N_m = 5000.0\n")
    soft, stiff = (load_forcefield(tmp_path / f"{n}.toml") for n in ("soft", "stiff"))
    assert soft.calendering.bridges
    assert stable_timestep_us(soft, beads) == stable_timestep_us(elastic, beads)
    cbd_mass = 0.95 * math.pi / 6 * 1.3**3
    assert stable_timestep_us(stiff, beads) == pytest.approx(
        0.5 * bond_period_us(stiff, cbd_mass, 12, 5000.0))
    assert stable_timestep_us(stiff, beads) < stable_timestep_us(elastic, beads)


def test_shipped_sets_load_and_differ_as_the_paper_says():
    slurry, dried = (load_forcefield(shipped_forcefield(n)) for n in ("slurry", "dried"))
    # Drying turns liquid CBD (0.5 MPa) into solid (2 GPa) and strengthens cohesion.
    assert slurry.materials["cbd"].youngs_modulus_GPa == pytest.approx(0.0005)
    assert dried.materials["cbd"].youngs_modulus_GPa == pytest.approx(2.0)
    assert dried.lj["am"].epsilon_fJ > slurry.lj["am"].epsilon_fJ
    paper = load_forcefield(shipped_forcefield("slurry-paper"))
    # The calibrated liquid: the same Table 1 moduli, frictionless, cohesive with its LJ minimum
    # near the ~2.6 um spacing that 2.14 g/cm3 leaves the 6.2 um beads.
    assert paper.contact["cbd"].friction == 0.0
    assert 2.3 < 2 ** (1 / 6) * paper.lj["cbd"].sigma_um < 2.7
    # The 94:6 slurry's experimental density asks for a denser liquid (docs/physics.md): the same
    # set but a smaller liquid core, its cutoff still 2.5 sigma.
    wet = load_forcefield(shipped_forcefield("slurry-paper-94-6"))
    assert wet.lj["cbd"].sigma_um < paper.lj["cbd"].sigma_um
    assert wet.lj["cbd"].cutoff_um == pytest.approx(2.5 * wet.lj["cbd"].sigma_um)
    assert wet.lj["cbd"].epsilon_fJ == paper.lj["cbd"].epsilon_fJ
    assert (wet.materials, wet.contact, wet.lj["am"]) == (paper.materials, paper.contact,
                                                          paper.lj["am"])
    for ff in (slurry, dried, paper):
        assert ff.materials["am"].youngs_modulus_GPa == 135.0  # paper Table 1
        assert ff.materials["collector"].youngs_modulus_GPa == 69.0
        assert ff.materials["roll"].youngs_modulus_GPa == 200.0


def test_lj_mixing_follows_the_paper():
    ff = load_forcefield(shipped_forcefield("slurry"))
    eps, sigma, cut = lj_pair(ff, "am", "cbd")
    a, c = ff.lj["am"], ff.lj["cbd"]
    assert eps == pytest.approx(0.8 * (a.epsilon_fJ + c.epsilon_fJ))
    assert sigma == pytest.approx(0.5 * (a.sigma_um + c.sigma_um))
    assert cut == pytest.approx(0.5 * (a.cutoff_um + c.cutoff_um))
    cmds = pair_commands(ff, {1: "am", 2: "cbd"})
    assert cmds[0].startswith("pair_style hybrid/overlay granular lj/cut")
    # hybrid/overlay needs LJ coefficients for every type pair.
    assert sum(c.startswith("pair_coeff") and "lj/cut" in c for c in cmds) == 3


def test_rayleigh_time_matches_the_formula_and_bounds_the_timestep():
    ff = load_forcefield(shipped_forcefield("dried"))
    am = ff.materials["am"]
    shear = 135e9 / (2 * 1.3)
    expected = math.pi * 0.7965e-6 * math.sqrt(4680 / shear) / (0.1631 * 0.3 + 0.8766) * 1e6
    assert rayleigh_time_us(am, 1.593, 4.68) == pytest.approx(expected, rel=1e-3)
    beads = {"am": (1.593, 4.68), "cbd": (1.3, 0.95)}
    bound = stable_timestep_us(ff, beads)
    check_timestep(ff, 0.1 * bound, beads)  # fine
    with pytest.raises(ForceFieldError, match="stability bound"):
        check_timestep(ff, 0.5 * bound, beads)


def test_a_primary_held_by_many_bonds_bounds_the_timestep_by_its_lattice_mode():
    """18 bonds per primary shorten the bond period by sqrt(18); bonds 100 x stiffer than the
    shipped 500 N/m then bound the timestep below the beads' Rayleigh times (a tiny slurry blew up
    at the single-bond bound)."""
    ff = load_forcefield(shipped_forcefield("dried"))
    mass = 4.68 * math.pi / 6 * 1.593**3  # pg
    assert bond_period_us(ff, mass, 18) == pytest.approx(bond_period_us(ff, mass) / math.sqrt(18))
    beads = {"am": (1.593, 4.68), "cbd": (1.3, 0.95)}
    rayleigh = min(rayleigh_time_us(ff.materials[name], *beads[name]) for name in beads)
    assert stable_timestep_us(ff, beads, 18) == pytest.approx(rayleigh)  # shipped bonds: no change
    stiff = dataclasses.replace(ff, bond_stiffness_N_m=100 * ff.bond_stiffness_N_m)
    assert stable_timestep_us(stiff, beads, 1) == pytest.approx(rayleigh)
    lattice = stable_timestep_us(stiff, beads, 18)
    assert lattice < 0.5 * rayleigh
    with pytest.raises(ForceFieldError, match="stability bound"):
        check_timestep(stiff, 0.1 * rayleigh, beads, bonds_per_bead=18)


@pytest.mark.lammps
def test_an_isolated_secondary_stays_whole_and_two_secondaries_interact(tmp_path):
    """Primaries of one secondary hold together by their bonds; two secondaries meet through
    the inter-particle JKR + LJ only (their beads never bond)."""
    from mesosweep.stages import slurry
    from mesosweep.stages.contract import StageOutput, run
    from mesosweep.stages.inputs import Numerics
    from mesosweep.stages.lammps_data import AM_TYPE, CBD_TYPE, BeadState, lattice_bonds
    from mesosweep.stages.lammps_env import executable

    s = 1.593 * (math.pi / 6) ** (1 / 3)
    grid = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3) * s
    a = grid + np.array([6.0, 10.0, 10.0])
    b = grid + np.array([6.0 + 2 * s + 2.5, 10.0, 10.0])  # facing beads 2.5 um apart: LJ range
    cbd = np.array([[16.0, 3.0, 3.0]])
    pos = np.vstack([a, b, cbd])
    mol = np.r_[np.full(27, 1), np.full(27, 2), 0]
    state = BeadState(np.zeros(3), np.array([20.0, 20.0, 20.0]),
                      np.where(mol > 0, AM_TYPE, CBD_TYPE), pos,
                      np.where(mol > 0, 1.593, 6.2), np.where(mol > 0, 4.68, 0.95), mol,
                      np.zeros((55, 3), np.int64), np.zeros((0, 3), np.int64))
    state = state.with_(bonds=lattice_bonds(pos, mol, s))
    assert not np.any(mol[state.bonds[:, 1]] != mol[state.bonds[:, 2]])  # no bond across
    # The dried set's inter-particle LJ well (500 fJ) closes the gap within the run; the slurry's
    # (0.05 fJ) leaves secondaries to the liquid CBD, which this test keeps out of the way.
    # The dried set runs no barostat of its own: give it the first version's (0.5 us, 0.0005 GPa).
    dried = dataclasses.replace(load_forcefield(shipped_forcefield("dried")),
                                barostat_damping_us=0.5, barostat_modulus_GPa=0.0005)
    slurry.build_inputs(slurry.SlurryParams(
        forcefield=dried, temperature_K=300.0, pressure_Pa=1e5, solid_content_percent=69.0,
        cbd_dried_diameter_um=1.3, cbd_density_g_cm3=0.95,
        numerics=Numerics(0.1, 500, 20000, 1000, 1e-9), seed=3),
        StageOutput("structure", tmp_path, state, {}), tmp_path)
    run(tmp_path, [executable("mpiexec"), "-n", "1"])
    final = slurry.read_output(tmp_path).state
    x = final.unwrapped()
    for m in (1, 2):  # each secondary keeps its lattice: bonds within 5 % of rest length
        sel = (final.molecule[final.bonds[:, 1]] == m)
        d = np.linalg.norm(x[final.bonds[sel, 1]] - x[final.bonds[sel, 2]], axis=1)
        rest = np.where(final.bonds[sel, 0] == 1, s, s * math.sqrt(2))
        assert np.abs(d / rest - 1).max() < 0.05
    # Facing beads of the two secondaries end in contact (1.59 um, the LJ minimum): the
    # barostat's dilation alone (box 20 -> L) would leave them 2.5 L / 20 um apart.
    box = final.box_um
    d = x[final.molecule == 1][:, None, :] - x[final.molecule == 2][None, :, :]
    d -= np.round(d / box) * box
    nearest = np.linalg.norm(d, axis=2).min()
    assert nearest < 1.75
    assert nearest < 0.8 * 2.5 * box[0] / 20.0


def _plane_height(cmds: list[str], start: float, step: int, dt: float) -> float:
    """Evaluate the plane's equal-style formula in Python at ``step`` (placed at step 0)."""
    expr = next(c for c in cmds if c.startswith("variable plane_dz")).split(" equal ", 1)[1]
    py = expr.replace("v_plane_s0", "0").replace("step", str(step)).replace("dt", repr(dt))
    # Our own generated formula, evaluated with no builtins but abs.
    return start + eval(py, {"__builtins__": {}, "abs": abs})


def test_the_plane_goes_down_to_its_stop_and_back_up_at_constant_speed():
    from mesosweep.stages.inputs import plane_commands, plane_return_commands, plane_steps

    ff = load_forcefield(shipped_forcefield("dried"))
    dt, speed = 1e-3, 2.0
    # 10 um down at 2 um/us in 1e-3 us steps, then back up.
    assert plane_steps(10.0, speed, dt) == 5000
    cmds = plane_commands(ff, 30.0, 10.0, speed)
    heights = [_plane_height(cmds, 30.0, n, dt) for n in (0, 2500, 5000, 7500, 10000)]
    assert heights == pytest.approx([30.0, 25.0, 20.0, 25.0, 30.0])
    # Placed at its stop with no travel left (a release from a restart), it only rises.
    up = plane_commands(ff, 20.0, 0.0, speed)
    assert [_plane_height(up, 20.0, n, dt) for n in (0, 2500)] == pytest.approx([20.0, 25.0])
    # The return ends when the film's top is the given gap below the plane, then the plane goes.
    ret = plane_return_commands(5000, 0.13)
    assert "halt 100 v_plane_gap > 0.13 error continue" in ret[0] and ret[1] == "run 5000"
    assert ret[-2:] == ["unfix planewall", "region plane delete"]


def test_slurry_opens_initial_overlaps_before_the_barostat(tmp_path):
    """Two CBD beads placed inside each other's LJ core are pushed apart at a bounded pace
    before the normal integrator and the barostat start."""
    from mesosweep.stages import slurry
    from mesosweep.stages.contract import StageOutput
    from mesosweep.stages.inputs import Numerics
    from mesosweep.stages.lammps_data import AM_TYPE, CBD_TYPE, BeadState

    pos = np.array([[5.0, 5.0, 5.0], [5.5, 5.0, 5.0], [10.0, 10.0, 10.0]])
    state = BeadState(np.zeros(3), np.full(3, 15.0), np.array([CBD_TYPE, CBD_TYPE, AM_TYPE]), pos,
                      np.array([6.2, 6.2, 1.593]), np.array([0.95, 0.95, 4.68]),
                      np.array([0, 0, 1]), np.zeros((3, 3), np.int64), np.zeros((0, 3), np.int64))
    protocol = slurry.build_inputs(slurry.SlurryParams(
        forcefield=load_forcefield(shipped_forcefield("slurry-paper")), temperature_K=300.0,
        pressure_Pa=1e5, solid_content_percent=69.0, cbd_dried_diameter_um=1.3,
        cbd_density_g_cm3=0.95, numerics=Numerics(0.1, 500, 4000, 1000, 1e-9), seed=3),
        StageOutput("structure", tmp_path, state, {}), tmp_path)
    lines = list(protocol.blocks[0].lines)
    limit = next(i for i, c in enumerate(lines) if c.startswith("fix integrate all nve/limit"))
    barostat = next(i for i, c in enumerate(lines) if c.startswith("fix barostat"))
    assert limit < lines.index("fix integrate all nve/sphere", limit) < barostat


def _pull_off_separation_um(directory: Path, coeffs: str, diameter_um: float,
                            skin_um: float) -> float:
    """Pull two beads apart at 1 µm/µs from a small overlap in LAMMPS; the last centre
    distance (µm, 0.01 µm resolution) at which their granular contact still pulls."""
    from mesosweep.stages.lammps_env import child_environment, executable

    directory.mkdir()
    (directory / "in.pull").write_text("\n".join([
        "units micro", "atom_style sphere", "atom_modify map array", "boundary f f f",
        "comm_modify vel yes", "region box block -20 20 -20 20 -20 20", "create_box 1 box",
        "create_atoms 1 single 0 0 0", f"create_atoms 1 single {0.97 * diameter_um} 0 0",
        f"set type 1 diameter {diameter_um}", "set type 1 density 1.0",
        "pair_style granular", f"pair_coeff 1 1 {coeffs}",
        f"neighbor {skin_um} bin", "neigh_modify delay 0 every 1 check yes",
        "timestep 0.001", "group one id 1", "group two id 2",
        "fix hold one move linear 0 0 0", "fix pull two move linear 1.0 0 0",
        "compute pl all pair/local dist force", "compute fmin all reduce min c_pl[2] inputs local",
        "variable r equal x[2]-x[1]", "thermo_style custom step v_r c_fmin", "thermo 10",
        "thermo_modify norm no", f"run {int(0.5 * diameter_um / 0.001)}"]) + "\n")
    subprocess.run([executable("lmp"), "-in", "in.pull", "-log", "log.lammps", "-screen", "none",
                    "-nocite"], cwd=directory, env=child_environment(), check=True, timeout=120)
    rows = []
    for line in (directory / "log.lammps").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit():
            rows.append((float(parts[1]), float(parts[2])))
    pulling = [r for r, f in rows if f < 0.0]
    assert rows and pulling, rows[:5]
    return max(pulling)


@pytest.mark.lammps
def test_a_jkr_contact_holds_in_tension_to_its_pull_off_whatever_the_neighbour_skin(tmp_path):
    """LAMMPS's granular cutoff includes the JKR pull-off distance, so the neighbour skin only
    sets how often lists are rebuilt, never which contacts exist: the liquid CBD's soft, sticky
    contact breaks at the same separation, well beyond touching, with a skin far smaller than
    that distance and with a generous one. (stages.inputs.neighbour_skin_um relies on it.)"""
    from mesosweep.stages.inputs import neighbour_skin_um
    from mesosweep.stages.lammps_data import AM_TYPE, CBD_TYPE, BeadState

    ff = load_forcefield(shipped_forcefield("slurry-paper"))
    line = next(c for c in pair_commands(ff, {AM_TYPE: "am", CBD_TYPE: "cbd"})
                if c.startswith(f"pair_coeff {CBD_TYPE} {CBD_TYPE} granular "))
    coeffs = line.split(" granular ", 1)[1]
    tiny = _pull_off_separation_um(tmp_path / "tiny", coeffs, 6.2, 0.01)
    wide = _pull_off_separation_um(tmp_path / "wide", coeffs, 6.2, 3.0)
    assert tiny == pytest.approx(wide, abs=1e-9)
    assert tiny > 6.2 + 0.05  # in tension beyond contact, by more than the tiny skin
    # The skin of a slurry (1.59 and 6.2 µm beads) follows the smallest bead.
    two = BeadState(np.zeros(3), np.full(3, 20.0), np.array([AM_TYPE, CBD_TYPE]),
                    np.zeros((2, 3)), np.array([1.593, 6.2]), np.array([4.68, 0.95]),
                    np.array([1, 0]), np.zeros((2, 3), np.int64), np.zeros((0, 3), np.int64))
    assert neighbour_skin_um(two) == pytest.approx(0.3 * 1.593)
