"""A trial stage: a slurry of about 200 beads that runs in a second, for ``mesosweep doctor``
(does this LAMMPS and this launcher run a stage at all?) and for tests that compare ways of
running one stage.

It is the real slurry stage (:mod:`mesosweep.stages.slurry`) with the spec's slurry force field
and process conditions, on a box of a dozen small synthetic secondaries, for
:data:`TRIAL_STEPS` steps: the push-off, then density checks every :data:`TRIAL_CHECK_STEPS`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from mesosweep.stages import slurry
from mesosweep.stages.contract import StageOutput
from mesosweep.stages.forcefield import ForceField
from mesosweep.stages.initial import bead_state
from mesosweep.stages.inputs import Numerics
from mesosweep.stages.protocol import Protocol
from mesosweep.stages.structure import build_structure
from mesosweep.stages.synthetic import synthetic_volume

__all__ = ["TRIAL_CHECK_STEPS", "TRIAL_STEPS", "build_trial", "trial_params"]

TRIAL_CHECK_STEPS = 200
#: The push-off and four density checks: enough for every command of the stage to run.
TRIAL_STEPS = slurry.PUSH_OFF_STEPS + 4 * TRIAL_CHECK_STEPS
TRIAL_SEED = 17
# A dozen secondaries of 2-4 µm at the paper's voxel, in a 10 x 10 x 60 µm box: ~200 beads.
_PARTICLES, _DIAMETERS_UM, _VOXEL_UM = 12, (2.0, 4.0), 0.642
_BOX_UM, _AM_FRACTION = (10.0, 10.0, 60.0), 0.05


def trial_params(forcefield: ForceField, *, temperature_K: float = 300.0,
                 pressure_Pa: float = 1e5, solid_content_percent: float = 69.0,
                 cbd_dried_diameter_um: float = 1.3, cbd_density_g_cm3: float = 0.95,
                 tolerance: float = 0.005) -> slurry.SlurryParams:
    """The trial slurry's parameters: the given force field and conditions (defaults: the quick
    sweep's), short numerics."""
    numerics = Numerics(timestep_fraction=0.1, check_steps=TRIAL_CHECK_STEPS,
                        max_steps=TRIAL_STEPS, relax_max_steps=TRIAL_CHECK_STEPS,
                        tolerance=tolerance)
    return slurry.SlurryParams(
        forcefield=forcefield, temperature_K=temperature_K, pressure_Pa=pressure_Pa,
        solid_content_percent=solid_content_percent, cbd_dried_diameter_um=cbd_dried_diameter_um,
        cbd_density_g_cm3=cbd_density_g_cm3, numerics=numerics, seed=TRIAL_SEED)


def build_trial(directory: Path, params: slurry.SlurryParams, *,
                max_steps: int | None = None) -> Protocol:
    """Write the trial slurry's inputs into ``directory`` (made if absent); ``max_steps``
    lengthens it. The same arguments write the same files."""
    # Lazy: particle separation (scikit-image) is needed only to build a trial.
    from mesosweep.analysis.separation import extract_particles  # noqa: PLC0415

    rng = np.random.default_rng(TRIAL_SEED)
    db = extract_particles(synthetic_volume(_PARTICLES, _DIAMETERS_UM, _VOXEL_UM, rng), _VOXEL_UM)
    structure = build_structure(
        db, box_um=_BOX_UM, am_volume_fraction=_AM_FRACTION, am_mass_percent=96.0,
        cbd_mass_percent=4.0, am_density_g_cm3=4.68, cbd_density_g_cm3=params.cbd_density_g_cm3,
        cbd_diameter_um=6.2, cbd_check_diameter_um=params.cbd_dried_diameter_um, rng=rng)
    if max_steps is not None:
        params = replace(params, numerics=replace(params.numerics, max_steps=max_steps))
    upstream = StageOutput("structure", directory, bead_state(structure), {})
    return slurry.build_inputs(params, upstream, directory)
