"""Initial bead structure of one realisation: AM secondaries from the database, then CBD beads.

Following the paper (Xu et al., section 2.3): secondary particles are drawn from the particle
database so that the number-weighted size distribution matches a target, until the AM volume is
reached; each particle's mask is downsampled and every remaining voxel becomes one primary AM
bead of the voxel's volume; secondaries are rotated uniformly at random and placed at random
positions in a periodic box without overlapping each other; finally CBD beads, as many as the
formulation's masses require, fill random positions outside the AM.

Positions are wrapped into the box ``[0, box_um)``; ``image`` holds the periodic image of each
bead such that ``position_um + image * box_um`` keeps every secondary in one piece.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.stats import ks_2samp

from mesosweep.analysis.phases import AM, CBD
from mesosweep.stages.particles import ParticleDatabase
from mesosweep.stages.psd import PsdTable, as_psd_table, target_sample

__all__ = [
    "PSD_SAMPLINGS",
    "Structure",
    "bead_diameter_um",
    "build_structure",
    "cbd_bead_count",
    "downsample_mask",
    "random_rotation",
    "sphere_mask",
]

Progress = Callable[[int, int], None]

# Relative slack on the contact distance, so beads that exactly touch are not counted as
# overlapping because of rounding.
_CONTACT_SLACK = 1e-9
#: Ways of drawing target diameters, see ``build_structure``'s ``psd_sampling``.
PSD_SAMPLINGS = ("independent", "stratified")
# (√5 − 1)/2: the additive recurrence with this step fills [0, 1) most evenly for every length.
_GOLDEN_FRACTION = (np.sqrt(5.0) - 1.0) / 2.0


# --------------------------------------------------------------------------- small pieces


def bead_diameter_um(voxel_size_um: float, downsample: int) -> float:
    """Diameter of the sphere with the volume of one downsampled voxel.

    Parameters
    ----------
    voxel_size_um : float
        Voxel edge length of the source volume, µm.
    downsample : int
        Downsampling factor per axis.

    Returns
    -------
    float
        ``(6·(voxel·downsample)³/π)^(1/3)``, µm (1.593 µm for 0.642 µm and 2).
    """
    return float(voxel_size_um * downsample * np.cbrt(6.0 / np.pi))


def downsample_mask(mask: np.ndarray, factor: int) -> np.ndarray:
    """Block-reduce a 3-D mask by ``factor`` per axis.

    A block is solid when at least half of its ``factor³`` voxels are (voxels beyond the mask's
    edge count as empty). If no block qualifies, the fullest one is kept, so a particle never
    vanishes.

    Parameters
    ----------
    mask : numpy.ndarray of bool, 3-D
        Particle mask.
    factor : int
        Block edge, voxels (>= 1).

    Returns
    -------
    numpy.ndarray of bool
        Mask of shape ``ceil(shape / factor)``.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"downsample_mask: expected a 3-D mask, got shape {mask.shape}")
    if factor < 1:
        raise ValueError(f"downsample_mask: factor must be >= 1, got {factor}")
    if factor == 1:
        return mask.copy()
    padded = np.pad(mask, [(0, (-s) % factor) for s in mask.shape])
    nx, ny, nz = (s // factor for s in padded.shape)
    filled = padded.reshape(nx, factor, ny, factor, nz, factor).sum(axis=(1, 3, 5))
    solid = 2 * filled >= factor**3
    if not solid.any():
        solid[np.unravel_index(np.argmax(filled), filled.shape)] = True
    return solid


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Rotation matrix drawn uniformly from SO(3) (Haar measure).

    A normalised 4-vector of independent normal deviates is a uniform unit quaternion; three
    uniform Euler angles would not be uniform.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray, shape (3, 3)
        Proper rotation matrix (orthogonal, determinant +1).
    """
    w, x, y, z = rng.standard_normal(4)
    norm = np.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def bead_mass_pg(diameter_um: float, density_g_cm3: float) -> float:
    """Mass of one spherical bead, pg (1 g/cm³ · 1 µm³ = 1 pg)."""
    return float(density_g_cm3 * np.pi / 6.0 * diameter_um**3)


def cbd_bead_count(
    n_am_beads: int,
    am_bead_diameter_um: float,
    am_density: float,
    cbd_bead_diameter_um: float,
    cbd_density: float,
    am_mass_percent: float,
    cbd_mass_percent: float,
) -> int:
    """Number of CBD beads whose mass makes the formulation's AM : CBD mass ratio.

    ``n_cbd = round(n_am · m_am · (cbd % / am %) / m_cbd)``, rounding half up, with bead
    masses from diameter and density. Use the *dried* CBD size and solid density: that is the
    CBD's mass, whatever size the bead has in the slurry.

    Parameters
    ----------
    n_am_beads : int
        Primary AM beads.
    am_bead_diameter_um, cbd_bead_diameter_um : float
        Bead diameters, µm.
    am_density, cbd_density : float
        Densities, g/cm³.
    am_mass_percent, cbd_mass_percent : float
        Formulation, mass per cent of the solids (e.g. 96 and 4).

    Returns
    -------
    int
        CBD bead count.
    """
    if am_mass_percent <= 0 or cbd_mass_percent < 0:
        raise ValueError(
            f"cbd_bead_count: need am_mass_percent > 0 and cbd_mass_percent >= 0, "
            f"got {am_mass_percent} and {cbd_mass_percent}"
        )
    am_mass = n_am_beads * bead_mass_pg(am_bead_diameter_um, am_density)
    cbd_mass = am_mass * cbd_mass_percent / am_mass_percent
    return int(np.floor(cbd_mass / bead_mass_pg(cbd_bead_diameter_um, cbd_density) + 0.5))


def sphere_mask(diameter_um: float, voxel_size_um: float) -> np.ndarray:
    """Voxelised sphere with exactly the voxel count of the sphere's volume (at least one).

    The voxels nearest to the centre are taken, so the count (and the AM volume) matches the
    volume-equivalent diameter instead of depending on where the grid cuts the sphere.

    Parameters
    ----------
    diameter_um : float
        Sphere diameter, µm.
    voxel_size_um : float
        Voxel edge length of the output, µm.

    Returns
    -------
    numpy.ndarray of bool
        Cubic mask.
    """
    count = max(1, int(round(np.pi / 6.0 * (diameter_um / voxel_size_um) ** 3)))
    half = int(np.ceil(diameter_um / voxel_size_um / 2.0)) + 1
    grid = np.arange(-half, half + 1, dtype=float)
    x, y, z = np.meshgrid(grid, grid, grid, indexing="ij")
    order = np.argsort((x * x + y * y + z * z).ravel(), kind="stable")
    mask = np.zeros(x.size, dtype=bool)
    mask[order[:count]] = True
    return mask.reshape(x.shape)


# --------------------------------------------------------------------------- the structure


@dataclass(frozen=True, eq=False)
class Structure:
    """Bead configuration of an initial slurry structure.

    Attributes
    ----------
    box_um : numpy.ndarray, shape (3,)
        Periodic box edges, µm; the box spans ``[0, box_um)``.
    position_um : numpy.ndarray, shape (N, 3)
        Bead centres wrapped into the box, µm.
    diameter_um : numpy.ndarray, shape (N,)
        Bead diameters, µm.
    density_g_cm3 : numpy.ndarray, shape (N,)
        Bead densities, g/cm³.
    phase : numpy.ndarray of int8, shape (N,)
        ``AM`` or ``CBD``.
    particle : numpy.ndarray of int32, shape (N,)
        Secondary-particle id 1..S of AM beads, 0 for CBD.
    bonds : numpy.ndarray of int32, shape (M, 2)
        Bead index pairs (i < j) of face-adjacent primaries of one secondary.
    image : numpy.ndarray of int32, shape (N, 3)
        Periodic image per bead: ``position_um + image * box_um`` keeps each secondary whole.
    psd_ks : float
        Kolmogorov–Smirnov distance between the target and the drawn number-weighted PSD.
    n_secondaries : int
        Number of secondary particles S.
    """

    box_um: np.ndarray
    position_um: np.ndarray
    diameter_um: np.ndarray
    density_g_cm3: np.ndarray
    phase: np.ndarray
    particle: np.ndarray
    bonds: np.ndarray
    image: np.ndarray
    psd_ks: float
    n_secondaries: int

    def __post_init__(self) -> None:
        n = len(self.position_um)
        expected = {
            "box_um": ((3,), float),
            "position_um": ((n, 3), float),
            "diameter_um": ((n,), float),
            "density_g_cm3": ((n,), float),
            "phase": ((n,), np.int8),
            "particle": ((n,), np.int32),
            "image": ((n, 3), np.int32),
        }
        for name, (shape, dtype) in expected.items():
            value = np.array(getattr(self, name), dtype=dtype)
            if value.shape != shape:
                raise ValueError(f"Structure: {name} has shape {value.shape}, expected {shape}")
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        bonds = np.array(self.bonds, dtype=np.int32).reshape(-1, 2)
        bonds.setflags(write=False)
        object.__setattr__(self, "bonds", bonds)

    @property
    def n_beads(self) -> int:
        """Total number of beads."""
        return len(self.position_um)

    def unwrapped_um(self) -> np.ndarray:
        """Bead centres with each secondary in one piece (may lie outside the box), µm."""
        return self.position_um + self.image * self.box_um


@dataclass(frozen=True)
class _Template:
    """One secondary's primaries in its own frame: centred positions (µm) and face bonds."""

    offsets_um: np.ndarray
    bonds: np.ndarray
    span_um: float


def _face_bonds(mask: np.ndarray) -> np.ndarray:
    """Index pairs of face-adjacent voxels of a mask, voxels numbered in C order of argwhere."""
    index = np.full(mask.shape, -1, dtype=np.int64)
    index[mask] = np.arange(int(mask.sum()))
    pairs = []
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        a, b = index[tuple(lo)], index[tuple(hi)]
        both = (a >= 0) & (b >= 0)
        pairs.append(np.stack([a[both], b[both]], axis=1))
    return np.concatenate(pairs).astype(np.int64)


def _template(mask: np.ndarray, spacing_um: float) -> _Template:
    """Beads at the voxel centres of a downsampled mask, centred on their centroid."""
    voxels = np.argwhere(mask).astype(float)  # C order, matching _face_bonds numbering
    offsets = (voxels + 0.5) * spacing_um
    offsets -= offsets.mean(axis=0)
    # outer extent including the beads' own size: a secondary wider than the box would touch
    # its periodic image, which the placement check does not look at
    span = 2.0 * float(np.linalg.norm(offsets, axis=1).max()) + spacing_um * np.cbrt(6.0 / np.pi)
    return _Template(offsets, _face_bonds(mask), span)


def _nearest_in_database(target_um: float, diameters_um: np.ndarray,
                         rng: np.random.Generator) -> int:
    """Index of the database particle whose diameter is nearest to the target (ties at random)."""
    gap = np.abs(diameters_um - target_um)
    candidates = np.flatnonzero(gap == gap.min())
    return int(rng.choice(candidates))


def _draw_particles(
    db: ParticleDatabase,
    target_um: np.ndarray,
    bead_volume_target_um3: float,
    bead_count_of: Callable[[int], int],
    voxel_volume_um3: float,
    rng: np.random.Generator,
    sampling: str = "independent",
) -> list[int]:
    """Draw database indices to match the target PSD until the AM bead volume is reached.

    Each draw picks a diameter from the target sample and takes the database particle nearest
    to it, so the drawn number-weighted PSD follows the target as far as the database covers
    it. The particle that crosses the volume target is kept only if that lands closer to it.

    ``sampling = "independent"`` picks each target diameter at random from the sample.
    ``"stratified"`` takes them at the quantiles ``u0 + k·φ (mod 1)`` of the sorted sample (φ
    the golden-ratio fraction, ``u0`` uniform at random): a randomised low-discrepancy
    sequence, so every prefix of the draw — whatever its length when the volume is reached —
    is spread evenly over the target distribution. Independent draws scatter the few large
    particles: on the paper's box the number of secondaries then varies by about ±10 % (1σ)
    between realisations, against ±3 % stratified, and the KS distance is about 2.5 times larger.
    """
    ordered = np.sort(target_um)
    offset = float(rng.random()) if sampling == "stratified" else 0.0
    drawn: list[int] = []
    volume = 0.0
    while volume < bead_volume_target_um3:
        if sampling == "stratified":
            quantile = (offset + len(drawn) * _GOLDEN_FRACTION) % 1.0
            target = float(ordered[min(int(quantile * len(ordered)), len(ordered) - 1)])
        else:
            target = float(rng.choice(target_um))
        index = _nearest_in_database(target, db.diameter_um, rng)
        added = bead_count_of(index) * voxel_volume_um3
        if drawn and volume + added - bead_volume_target_um3 > bead_volume_target_um3 - volume:
            break
        drawn.append(index)
        volume += added
    return drawn


def _periodic_tree(points: np.ndarray, box: np.ndarray) -> cKDTree:
    """Periodic k-d tree of points wrapped into [0, box)."""
    return cKDTree(points, boxsize=box)


def _wrap(points: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points wrapped into [0, box) and the integer image each came from."""
    image = np.floor(points / box).astype(np.int64)
    wrapped = points - image * box
    # rounding can land exactly on the upper edge, which the periodic tree refuses
    edge = wrapped >= box
    wrapped[edge] -= np.broadcast_to(box, wrapped.shape)[edge]
    image[edge] += 1
    return wrapped, image


def _place_secondaries(
    templates: list[_Template],
    box: np.ndarray,
    bead_d: float,
    rng: np.random.Generator,
    max_attempts: int,
    progress: Progress | None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Rotate and place each template at random without bead overlap (periodic).

    Returns the wrapped positions and the images of each template's beads, in input order.
    """
    contact = bead_d * (1.0 - _CONTACT_SLACK)
    placed_points = np.zeros((0, 3))
    tree: cKDTree | None = None
    positions, images = [], []
    for k, template in enumerate(templates):
        for _ in range(max_attempts):
            unwrapped = template.offsets_um @ random_rotation(rng).T + rng.uniform(0.0, box)
            wrapped, image = _wrap(unwrapped, box)
            if tree is None or np.isinf(
                    tree.query(wrapped, k=1, distance_upper_bound=contact)[0]).all():
                break
        else:
            raise ValueError(
                f"could not place secondary particle {k + 1} of {len(templates)} "
                f"({len(template.offsets_um)} beads) without overlap after {max_attempts} "
                "attempts: "
                f"the box {box.tolist()} µm is too small for this AM volume; "
                "enlarge box_um or lower am_volume_fraction"
            )
        positions.append(wrapped)
        images.append(image)
        placed_points = np.concatenate([placed_points, wrapped])
        tree = _periodic_tree(placed_points, box)
        if progress is not None:
            progress(k + 1, len(templates))
    return positions, images


def _place_cbd(
    count: int,
    am_points: np.ndarray,
    box: np.ndarray,
    min_distance_um: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Uniform random CBD centres at least ``min_distance_um`` from every AM bead."""
    if count == 0:
        return np.zeros((0, 3))
    tree = _periodic_tree(am_points, box) if len(am_points) else None
    accepted: list[np.ndarray] = []
    found = 0
    batch = max(1024, 2 * count)
    for _ in range(100):  # bounded: the free volume is tiny only when the AM is over-packed
        candidates = rng.uniform(0.0, 1.0, (batch, 3)) * box
        candidates = np.minimum(candidates, np.nextafter(box, 0))
        if tree is not None:
            free = np.isinf(tree.query(candidates, k=1, distance_upper_bound=min_distance_um)[0])
            candidates = candidates[free]
        accepted.append(candidates[: count - found])
        found += len(accepted[-1])
        if found == count:
            return np.concatenate(accepted)
    raise ValueError(
        f"placed only {found} of {count} CBD beads outside the AM after {100 * batch} tries: "
        "the box has too little free volume; enlarge box_um or lower am_volume_fraction"
    )


def _check_inputs(box: np.ndarray, am_volume_fraction: float, shape: str, db: ParticleDatabase,
                  downsample: int) -> None:
    """Raise ValueError for inputs that cannot give a structure."""
    if box.shape != (3,) or not (box > 0).all() or not np.isfinite(box).all():
        raise ValueError(f"box_um must be three positive lengths (µm), got {box.tolist()}")
    if not 0.0 < am_volume_fraction < 1.0:
        raise ValueError(f"am_volume_fraction must be in (0, 1), got {am_volume_fraction}")
    if shape not in ("real", "sphere"):
        raise ValueError(f"shape must be 'real' or 'sphere', got {shape!r}")
    if len(db) == 0:
        raise ValueError("the particle database is empty")
    if int(downsample) != downsample or downsample < 1:
        raise ValueError(f"downsample must be a positive integer, got {downsample}")


def _assemble(
    box: np.ndarray,
    positions: list[np.ndarray],
    images: list[np.ndarray],
    bonds: list[np.ndarray],
    cbd_points: np.ndarray,
    *,
    am_bead: tuple[float, float],
    cbd_bead: tuple[float, float],
    psd_ks: float,
) -> Structure:
    """Concatenate placed secondaries (ids 1..S in list order) and CBD beads into a Structure.

    ``am_bead`` and ``cbd_bead`` are (diameter µm, density g/cm³).
    """
    counts = [len(p) for p in positions]
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
    n_am, n_cbd = int(sum(counts)), len(cbd_points)
    return Structure(
        box_um=box,
        position_um=np.concatenate([*positions, cbd_points]),
        diameter_um=np.concatenate([np.full(n_am, am_bead[0]), np.full(n_cbd, cbd_bead[0])]),
        density_g_cm3=np.concatenate([np.full(n_am, am_bead[1]), np.full(n_cbd, cbd_bead[1])]),
        phase=np.concatenate([np.full(n_am, AM), np.full(n_cbd, CBD)]),
        particle=np.concatenate([np.repeat(np.arange(1, len(counts) + 1), counts),
                                 np.zeros(n_cbd, int)]),
        bonds=np.concatenate([b + s for b, s in zip(bonds, starts, strict=True)]),
        image=np.concatenate([*images, np.zeros((n_cbd, 3), dtype=int)]),
        psd_ks=psd_ks,
        n_secondaries=len(counts),
    )


def build_structure(
    db: ParticleDatabase,
    *,
    box_um: Sequence[float],
    am_volume_fraction: float,
    am_mass_percent: float,
    cbd_mass_percent: float,
    am_density_g_cm3: float,
    cbd_density_g_cm3: float,
    cbd_diameter_um: float,
    cbd_check_diameter_um: float,
    downsample: int = 2,
    shape: str = "real",
    target_diameters_um: Sequence[float] | np.ndarray | None = None,
    psd_table: PsdTable | str | os.PathLike[str] | Sequence[Sequence[float]] | None = None,
    psd_sampling: str = "independent",
    rng: np.random.Generator,
    max_attempts: int = 2000,
    progress: Progress | None = None,
) -> Structure:
    """Build the initial bead structure of one realisation.

    Parameters
    ----------
    db : ParticleDatabase
        Source of secondary-particle shapes.
    box_um : sequence of 3 float
        Periodic box edges, µm.
    am_volume_fraction : float
        Target AM bead volume over box volume (bead volume = downsampled voxel volume).
    am_mass_percent, cbd_mass_percent : float
        Formulation, mass per cent (e.g. 96 and 4).
    am_density_g_cm3, cbd_density_g_cm3 : float
        Densities of AM and of solid (dried, nanoporous) CBD, g/cm³.
    cbd_diameter_um : float
        Diameter given to the CBD beads (the slurry size, e.g. 6.2 µm).
    cbd_check_diameter_um : float
        Dried CBD diameter (e.g. 1.3 µm): sets the CBD bead count (with ``cbd_density_g_cm3``)
        and the overlap check against AM beads. CBD beads may overlap each other.
    downsample : int
        Downsampling factor per axis before bead substitution (the paper uses 2).
    shape : {"real", "sphere"}
        ``"real"``: the database shapes. ``"sphere"``: each drawn particle becomes a voxelised
        sphere of its volume-equivalent diameter, on the same bead grid.
    target_diameters_um : array of float, optional
        Sample of the target number-weighted PSD, µm; the database's own diameters by default.
    psd_table : PsdTable, path or rows of (diameter_um, number_fraction), optional
        Target PSD as a table of size classes (see :mod:`stages.psd`); its deterministic
        :func:`~stages.psd.target_sample` becomes the target. Give this or
        ``target_diameters_um``, not both.
    psd_sampling : {"independent", "stratified"}
        How target diameters are drawn: independently at random, or as a randomised
        low-discrepancy sequence that follows the target far more closely for the same number
        of particles (see ``_draw_particles``).
    rng : numpy.random.Generator
        The only source of randomness: the same state gives the same structure.
    max_attempts : int
        Random positions tried per secondary before giving up.
    progress : callable(done, total), optional
        Called after each secondary is placed.

    Returns
    -------
    Structure
        AM beads first (secondary by secondary, ids 1..S), then CBD beads.

    Raises
    ------
    ValueError
        For invalid inputs, a box smaller than a particle, or when the secondaries or the CBD
        cannot be placed without overlap.
    """
    box = np.asarray(box_um, dtype=float)
    _check_inputs(box, am_volume_fraction, shape, db, downsample)
    spacing = db.voxel_size_um * downsample
    bead_d = bead_diameter_um(db.voxel_size_um, downsample)
    if psd_sampling not in PSD_SAMPLINGS:
        raise ValueError(f"psd_sampling must be one of {PSD_SAMPLINGS}, got {psd_sampling!r}")
    if psd_table is not None and target_diameters_um is not None:
        raise ValueError("give the target PSD once: target_diameters_um or psd_table, not both")
    if psd_table is not None:
        target = target_sample(as_psd_table(psd_table))
    else:
        target = np.asarray(db.diameter_um if target_diameters_um is None
                            else target_diameters_um, dtype=float)
    if target.ndim != 1 or target.size == 0 or not (target > 0).all():
        raise ValueError(
            "target_diameters_um must be a non-empty sample of positive diameters (µm)")

    cache: dict[int, _Template] = {}

    def template_of(index: int) -> _Template:
        if index not in cache:
            if shape == "real":
                mask = downsample_mask(db.masks[index], downsample)
            else:
                mask = sphere_mask(float(db.diameter_um[index]), spacing)
            cache[index] = _template(mask, spacing)
        return cache[index]

    drawn = _draw_particles(
        db,
        target,
        am_volume_fraction * float(np.prod(box)),
        lambda i: len(template_of(i).offsets_um),
        spacing**3,
        rng,
        psd_sampling,
    )
    templates = [template_of(i) for i in drawn]
    widest = max(t.span_um for t in templates)
    if widest >= box.min():
        raise ValueError(
            f"box_um {box.tolist()} is too small: a drawn secondary spans {widest:.1f} µm; "
            "every box edge must exceed the largest particle"
        )
    # largest first: random sequential placement fails least that way
    order = sorted(range(len(drawn)), key=lambda k: -len(templates[k].offsets_um))
    positions, images = _place_secondaries(
        [templates[k] for k in order], box, bead_d, rng, max_attempts, progress
    )

    am_points = np.concatenate(positions)
    n_cbd = cbd_bead_count(
        len(am_points), bead_d, am_density_g_cm3, cbd_check_diameter_um, cbd_density_g_cm3,
        am_mass_percent, cbd_mass_percent,
    )
    cbd_points = _place_cbd(n_cbd, am_points, box, 0.5 * (bead_d + cbd_check_diameter_um), rng)
    return _assemble(
        box,
        positions,
        images,
        [templates[k].bonds for k in order],
        cbd_points,
        am_bead=(bead_d, float(am_density_g_cm3)),
        cbd_bead=(float(cbd_diameter_um), float(cbd_density_g_cm3)),
        # only the statistic is used: the asymptotic method skips the exact p-value (and its
        # warning)
        psd_ks=float(ks_2samp(target, db.diameter_um[drawn], method="asymp").statistic),
    )
