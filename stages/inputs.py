"""Pieces shared by the stage inputs: LAMMPS set-up, force field, thermostat, outputs, launch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mesosweep.analysis.porosity import electrode_thickness
from mesosweep.analysis.voxelise import voxelise
from mesosweep.errors import StageError
from mesosweep.stages.forcefield import (
    N_M_TO_MICRO,
    ForceField,
    check_timestep,
    pair_commands,
    stable_timestep_us,
    wall_model,
)
from mesosweep.stages.lammps_data import AM_TYPE, CBD_TYPE, TYPE_MATERIAL, BeadState
from mesosweep.stages.protocol import STATE_FILE, Commands, Converge, Protocol
from mesosweep.stages.runner import WATCHDOG, WATCHDOG_EVERY

KB_MICRO = 1.380649e-8  # Boltzmann constant in fJ/K (LAMMPS units micro)


@dataclass(frozen=True)
class Numerics:
    """How long and how finely each stage runs; see docs/spec.md (section [numerics])."""

    timestep_fraction: float
    check_steps: int
    max_steps: int
    relax_max_steps: int
    tolerance: float
    relax_check_steps: int | None = None  # None: check_steps
    stopping_rule: str = "consecutive"  # stages.protocol.RULES

    @property
    def patience(self) -> int:
        """Checks in a row that must find the run settled: the consecutive rule's changes can
        pause by chance, the extrapolated rule's estimate needs one check to confirm it."""
        return 3 if self.stopping_rule == "consecutive" else 2

    @property
    def relax_check(self) -> int:
        """Steps between the checks of a film's relaxation after the plane leaves."""
        return self.relax_check_steps or self.check_steps


def timestep_us(ff: ForceField, state: BeadState, fraction: float) -> float:
    """Timestep (µs): ``fraction`` of the stability bound of the stiffest bead in ``state``."""
    beads = {}
    for t, name in TYPE_MATERIAL.items():
        sel = state.type == t
        if sel.any():
            beads[name] = (float(state.diameter_um[sel].min()),
                           float(state.density_g_cm3[sel].min()))
    bonded = state.bonds[:, 1:].ravel()
    most = int(np.bincount(bonded).max()) if bonded.size else 1
    dt = fraction * stable_timestep_us(ff, beads, most)
    check_timestep(ff, dt, beads, bonds_per_bead=most)
    return dt


def bond_spacing_um(state: BeadState) -> float:
    """Edge of the bead lattice (µm): a primary is the volume-equivalent sphere of one cube."""
    d = float(state.diameter_um[state.type == AM_TYPE].max())
    return d * (math.pi / 6.0) ** (1.0 / 3.0)


def setup_commands(ff: ForceField, state: BeadState, data_file: str, boundary: str,
                   dt: float, bridge_room: bool = False) -> list[str]:
    """Initialisation from a data file: atom style, data, bonds, pair styles, neighbour lists,
    timestep. ``bridge_room``: leave room for the binder bridges of calendering."""
    return [
        "units micro",
        "atom_style hybrid sphere 1 bond",
        "atom_modify map array",
        f"boundary {boundary}",
        f"read_data {data_file}" + (BRIDGE_ROOM if bridge_room else ""),
        "special_bonds lj 0 1 1",  # bonded primaries interact only through their bond
        "bond_style harmonic",
        *intra_bond_coeffs(ff, state),
        # Bridges form in the release (bridge_commands); their type needs a placeholder here.
        *([f"bond_coeff {BRIDGE_BOND} 0 1"] if bridge_room else []),
        *pair_commands(ff, {AM_TYPE: "am", CBD_TYPE: "cbd"}),
        *_run_settings(state, dt),
    ]


def intra_bond_coeffs(ff: ForceField, state: BeadState, style: str = "") -> list[str]:
    """Coefficients of the face and edge bonds that hold a secondary's lattice (``style``: the
    sub-style name under ``bond_style hybrid``)."""
    spacing = bond_spacing_um(state)
    k = 0.5 * ff.bond_stiffness_N_m * N_M_TO_MICRO  # harmonic K: E = K (r - r0)^2
    sub = f"{style} " if style else ""
    return [f"bond_coeff 1 {sub}{k:.6g} {spacing:.6g}",
            f"bond_coeff 2 {sub}{k:.6g} {spacing * math.sqrt(2.0):.6g}"]


BRIDGE_BOND = 3  # bond type of the binder bridges that calendering forms
# Room for them, given when the dried film is first read (restarts keep it): a CBD bead
# touches at most 12 others; LAMMPS stores each bond and its special pairs with its atoms.
BRIDGE_ROOM = (" extra/bond/types 1 extra/bond/per/atom 12 extra/special/per/atom 40")


def bridge_commands(ff: ForceField, state: BeadState) -> list[str]:
    """Weld every CBD-CBD and CBD-AM pair in contact into a binder bridge: a harmonic spring
    whose rest length is the pair's distance at the next run's start (``harmonic/restrain``),
    so the pressed geometry becomes the bridges' unstressed state.

    A bridged pair is a 1-2 special pair and leaves the pair styles: the bridge replaces its
    contact, and the contact's stored elastic force is released into the bridge's rest length
    (the binder flows under the roll's pressure and sets). AM-AM contacts stay elastic.
    """
    k = 0.5 * ff.calendering.bridge_stiffness_N_m * N_M_TO_MICRO  # E = K (r - r0)^2
    am = float(state.diameter_um[state.type == AM_TYPE].max())
    cbd = float(state.diameter_um[state.type == CBD_TYPE].max())
    return [
        "bond_style hybrid harmonic harmonic/restrain",
        *intra_bond_coeffs(ff, state, "harmonic"),
        f"bond_coeff {BRIDGE_BOND} harmonic/restrain {k:.6g}",
        f"group bridge_cbd type {CBD_TYPE}",
        f"group bridge_am type {AM_TYPE}",
        # Contact: centres closer than the sum of the radii.
        f"create_bonds many bridge_cbd bridge_cbd {BRIDGE_BOND} 0.0 {cbd:.9g}",
        f"create_bonds many bridge_cbd bridge_am {BRIDGE_BOND} 0.0 {0.5 * (am + cbd):.9g}",
    ]


def cbd_compaction_commands(ff: ForceField, cbd_dried_diameter_um: float,
                            dried_thickness_um: float) -> list[str]:
    """Shrink the CBD beads as the plane goes down: their volume falls by ``cbd_compaction`` x
    the compression degree the plane has reached (0 above the dried mean surface), never below
    ``1 - cbd_nanoporosity`` of the dried volume; their mass stays (the nanopores close).
    Diameters in µm. Needs the plane (:func:`plane_commands`) defined first.
    """
    cal = ff.calendering
    d0 = cbd_dried_diameter_um
    degree = f"(1-(v_{PLANE}_z)/{dried_thickness_um:.9g})"
    volume = f"(1-{cal.cbd_compaction:.6g}*ternary({degree}>0,{degree},0))"
    floor = 1.0 - cal.cbd_nanoporosity
    return [
        f"group compacting_cbd type {CBD_TYPE}",
        f"variable cbd_volume equal ternary({volume}>{floor:.6g},{volume},{floor:.6g})",
        f"variable cbd_diameter equal {d0:.9g}*v_cbd_volume^(1.0/3.0)",
        f"fix cbd_compaction compacting_cbd adapt {CBD_ADAPT_EVERY} atom diameter "
        "v_cbd_diameter mass no",
    ]


CBD_ADAPT_EVERY = 100  # steps: the plane moves 0.016 µm in 100 steps at 2 µm/µs


def restart_setup_commands(ff: ForceField, state: BeadState, restart_file: str,
                           dt: float) -> list[str]:
    """Initialisation from a restart file written by a previous stage.

    The restart holds the box, beads, bonds, pair style and its contact histories (JKR and
    tangential springs); re-defining the pair style would drop the histories, so only the pair
    coefficients (not stored) are set again. Fixes re-created with their old IDs take back their
    own histories (walls)."""
    pair = [c for c in pair_commands(ff, {AM_TYPE: "am", CBD_TYPE: "cbd"})
            if not c.startswith("pair_style")]
    return [f"read_restart {restart_file}", *pair, *_run_settings(state, dt)]


def neighbour_skin_um(state: BeadState) -> float:
    """Neighbour-list skin, µm: 0.3 × the smallest bead diameter.

    The skin only sets how often lists are rebuilt: LAMMPS's granular cutoff already reaches a
    JKR contact's pull-off distance, so a contact in tension survives any skin (tested). Tied
    to the smallest bead, not the largest: 0.3 × the slurry's 6.2 µm beads listed 182
    neighbours per bead (97 with 0.4 µm) and the dense slurry ran 18 % slower
    (docs/physics.md, "Neighbour lists").
    """
    return 0.3 * float(state.diameter_um.min())


BALANCE_EVERY = 1000  # steps between load-balance checks (a cheap reduction when nothing moves)


def _run_settings(state: BeadState, dt: float) -> list[str]:
    """Communication, neighbour lists, load balance, blow-up watchdog, timestep and the
    thickness variables (not in restarts)."""
    return [
        "comm_modify vel yes",
        f"neighbor {neighbour_skin_um(state):.6g} bin",
        "neigh_modify delay 0 every 1 check yes",
        # A film fills the bottom of its box (the plane starts above it), and LAMMPS cuts the
        # box evenly: the ranks above the film sat idle. Shift the cuts to even out the beads
        # (docs/physics.md, "Parallel load").
        f"fix balance all balance {BALANCE_EVERY} 1.1 shift xyz 10 1.05",
        *watchdog_commands(state.n),
        f"timestep {dt:.6g}",
        "variable ztop atom z+radius",
        "compute ztopmax all reduce max v_ztop",
        "variable thickness equal c_ztopmax",
        "variable density_g_cm3 equal density",
    ]


def watchdog_commands(atoms: int) -> list[str]:
    """Stop LAMMPS within ``WATCHDOG_EVERY`` steps of a blow-up: a non-finite kinetic or
    potential energy (x - x is NaN for NaN and ±inf), or fewer than ``atoms`` beads.

    LAMMPS alone notices lost atoms only at thermo output and NaN coordinates only when it
    rebuilds neighbour lists; the convergence checks come every ``check_steps`` (20 000 at
    the paper's scale, minutes of wall time). Energies are tallied on one step in 100 for it.
    """
    return [
        f'variable {WATCHDOG} equal "(ke-ke) != (ke-ke) || (pe-pe) != (pe-pe) || '
        f'atoms != {int(atoms)}"',
        f"fix {WATCHDOG} all halt {WATCHDOG_EVERY} v_{WATCHDOG} > 0.5 error hard message yes",
    ]


def dynamics_commands(ff: ForceField, temperature_K: float, seed: int) -> list[str]:
    """Integrator and Langevin thermostat (which also drains the kinetic energy of
    rearrangements)."""
    return [
        "fix integrate all nve/sphere",
        f"fix thermostat all langevin {temperature_K:.6g} {temperature_K:.6g} "
        f"{ff.langevin_damping_us:.6g} {seed} omega yes",
        "thermo_style custom step atoms ke pe press vol density lx ly lz c_ztopmax",
        "thermo_modify lost error norm no flush yes",
    ]


def output_commands() -> list[str]:
    """Write the final state for the next stage and for analysis."""
    return [f"write_data {STATE_FILE}"]


PLANE = "plane"  # the roll plane's region; its wall fix is PLANE + "wall" in every stage


def plane_commands(ff: ForceField, start_um: float, travel_um: float, speed_um_per_us: float,
                   hold_us: float = 0.0) -> list[str]:
    """A steel/roll plane at ``start_um`` now, moving down by ``travel_um`` at constant speed and
    then back up at the same speed (``travel_um`` = 0: up at once), as a roll passes;
    ``hold_us`` (µs) it stays where it was placed before it moves.

    Its height is start - travel + |moved - travel| with moved = speed x time since it was
    placed (less the hold): one continuous motion, so the wall keeps its contact history at the
    turn.
    """
    time = f"(step-v_{PLANE}_s0)*dt"
    if hold_us > 0.0:
        time = f"ternary({time}>{hold_us:.9g},{time}-{hold_us:.9g},0)"
    moved = f"{time}*{speed_um_per_us:.6g}"
    return [
        f"variable {PLANE}_s0 equal $(step)",
        f"variable {PLANE}_dz equal -{travel_um:.9g}+abs({moved}-{travel_um:.9g})",
        f"variable {PLANE}_z equal {start_um:.9g}+v_{PLANE}_dz",
        f"variable {PLANE}_gap equal v_{PLANE}_z-c_ztopmax",
        (f"region {PLANE} plane 0 0 {start_um:.9g} 0 0 -1 side in move NULL NULL v_{PLANE}_dz "
         "units box"),
        f"fix {PLANE}wall all wall/gran/region granular {wall_model(ff, 'roll')} region {PLANE}",
    ]


def plane_steps(travel_um: float, speed_um_per_us: float, dt: float) -> int:
    """Steps the plane takes to travel ``travel_um`` (µm) at ``speed_um_per_us``."""
    return max(1, math.ceil(max(travel_um, 0.0) / speed_um_per_us / dt))


def plane_return_commands(max_steps: int, gap_um: float) -> list[str]:
    """Let the plane (on its way up) rise until the film's highest point is ``gap_um``
    below it, at most ``max_steps``, then remove it.

    Unloading at the roll's pace, rather than deleting the plane at its lowest point, lets the
    film's elastic part recover gradually: removed at once, the stored contact energy launches
    loose beads off the surface, and nothing (no gravity at this scale) brings them back. Once
    the film has parted from it, the plane exerts no force, so the return ends there (checked
    every 100 steps) instead of travelling the whole way back.
    """
    return [
        (f"fix {PLANE}clear all halt 100 v_{PLANE}_gap > {gap_um:.6g} error continue "
         "message no"),
        f"run {max_steps}",
        f"unfix {PLANE}clear",
        f"unfix {PLANE}wall",
        f"region {PLANE} delete",
    ]


def clearance_um(state: BeadState) -> float:
    """Gap (µm) at which the film has parted from the rising plane: a tenth of the smallest bead.
    No contact is left, and the film's springback, which fell behind the plane, cannot catch it
    up again."""
    return 0.1 * float(state.diameter_um.min())


def collector_commands(ff: ForceField) -> list[str]:
    """The current collector: an adhesive JKR wall at z = 0."""
    return [f"fix collector all wall/gran granular {wall_model(ff, 'collector')} zplane 0.0 NULL"]


def pressure_micro(pressure_Pa: float) -> float:
    """Pascal to LAMMPS micro pressure units (1e3 Pa)."""
    return pressure_Pa * 1e-3


def pressed_film_protocol(stage: str, ff: ForceField, state: BeadState, data_file: str, *,
                          stop_um: float, temperature_K: float, speed_um_per_us: float,
                          numerics: Numerics, seed: int) -> Protocol:
    """A film on the current collector pressed by a plane in one pass, released, relaxed (drying):
    the plane moves down from the film's top to ``stop_um`` at constant speed and back up until
    the film has parted from it, is removed, and the film relaxes until its thickness (top of the
    highest bead) settles."""
    dt = timestep_us(ff, state, numerics.timestep_fraction)
    top = electrode_top_um(state)
    steps = plane_steps(top - stop_um, speed_um_per_us, dt)
    # numerics.max_steps caps the whole stage: the plane's way down and back (at most as long),
    # then the relaxation in what is left, up to its own cap.
    relax = min(numerics.relax_max_steps, numerics.max_steps - 2 * steps)
    if relax < numerics.relax_check:
        raise StageError(stage, f"the plane needs {steps} steps down and up to {steps} back "
                                f"({top - stop_um:.4g} um at {speed_um_per_us:g} um/us), which "
                                f"leaves no relaxation check within the cap of "
                                f"{numerics.max_steps} steps; raise numerics.drying_max_steps "
                                f"to at least {2 * steps + numerics.relax_check} or "
                                "process.calendering_speed_um_per_us")
    blocks = (
        Commands(tuple([
            *setup_commands(ff, state, data_file, "p p f", dt),
            *film_dynamics_commands(ff, temperature_K, seed, numerics),
        ])),
        Commands(tuple([*plane_commands(ff, top, top - stop_um, speed_um_per_us), f"run {steps}",
                        *plane_return_commands(steps, clearance_um(state))])),
        relax_block(numerics, relax),
        Commands(tuple(output_commands())),
    )
    return Protocol(stage, blocks, atoms=state.n, outputs={"state": STATE_FILE})


def film_dynamics_commands(ff: ForceField, temperature_K: float, seed: int,
                           numerics: Numerics) -> list[str]:
    """Integrator, thermostat, current collector and thermo output of a film on its collector."""
    return [*dynamics_commands(ff, temperature_K, seed), *collector_commands(ff),
            f"thermo {numerics.check_steps}"]


def relax_block(numerics: Numerics, max_steps: int | None = None) -> Converge:
    """Relax until the film's thickness (top of the highest bead) settles, at most
    ``max_steps`` (default: the relaxation's cap)."""
    return Converge(name="relax", variable="thickness", check_steps=numerics.relax_check,
                    max_steps=numerics.relax_max_steps if max_steps is None else max_steps,
                    tolerance=numerics.tolerance, patience=numerics.patience,
                    rule=numerics.stopping_rule)


def electrode_top_um(state: BeadState) -> float:
    """Height (µm) of the highest bead's top above the current collector."""
    return float((state.position_um[:, 2] + 0.5 * state.diameter_um).max())


# Fine enough that the mean top surface is within ~0.1 µm of its continuum value for 1.3 µm beads.
FILM_VOXEL_UM = 0.25


def film_thickness_um(state: BeadState) -> float:
    """Mean thickness (µm) of the film: the top of its solid averaged over the (x, y) plane.

    The definition the analysis reports as ``thickness`` (``analysis.porosity``), so that the
    compression degree and springback refer to the thickness its porosity is measured over,
    not to the one bead that sticks out highest.
    """
    phase, _ = voxelise(state.position_um - state.box_lo, state.diameter_um, state.phase,
                        np.where(state.type == AM_TYPE, 1, 0), state.box_um, FILM_VOXEL_UM,
                        height_um=electrode_top_um(state) + FILM_VOXEL_UM)
    return electrode_thickness(phase, FILM_VOXEL_UM)
