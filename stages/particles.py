"""Particle database: secondary active-material particles separated from a labelled volume.

The particles are separated by the paper's distance-transform watershed, which lives with the
image processing (:mod:`analysis.separation`); this module holds what is kept of them. Each
particle is stored as a boolean mask cropped to its bounding box, with its shape metrics.

The database is saved as an ``.npz`` archive that holds plain numeric and string arrays only,
so reading it cannot execute code (see ``docs/particle-database.md``).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

# The inertia-ellipsoid math is shared with the microstructure analysis, which owns it.
from mesosweep.analysis.particle_shape import ellipsoid_semi_axes, krumbein_sphericity

__all__ = [
    "SCHEMA_VERSION",
    "ParticleDatabase",
    "array_sha256",
    "build_database",
    "build_database_from_file",
    "ellipsoid_semi_axes",
    "krumbein_sphericity",
    "principal_extents_um",
    "load_database",
    "peek_database",
    "DatabaseSummary",
    "save_database",
    "volume_equivalent_diameter_um",
]

#: Version of the on-disk layout written by :func:`save_database`.
SCHEMA_VERSION = 1
_KIND = "mesosweep.particle_database"
_PAYLOAD_KEYS = (
    "voxel_size_um",
    "mask_data",
    "mask_shapes",
    "mask_offsets",
    "voxel_count",
    "diameter_um",
    "axes_um",
    "sphericity",
    "source",
    "source_sha256",
)

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- shape metrics


def volume_equivalent_diameter_um(voxel_count: np.ndarray | int,
                                  voxel_size_um: float) -> np.ndarray:
    """Diameter of the sphere with the volume of ``voxel_count`` cubic voxels.

    Parameters
    ----------
    voxel_count : int or array of int
        Number of voxels.
    voxel_size_um : float
        Edge length of one voxel, µm.

    Returns
    -------
    numpy.ndarray
        Volume-equivalent diameter, µm.
    """
    volume_um3 = np.asarray(voxel_count, dtype=float) * voxel_size_um**3
    return np.cbrt(6.0 * volume_um3 / np.pi)


def principal_extents_um(mask: np.ndarray, voxel_size_um: float) -> np.ndarray:
    """Caliper lengths of a particle along the principal axes of its inertia ellipsoid.

    The extent of the filled voxels along a unit direction ``u`` is the spread of the voxel
    centres' projections plus one voxel's own extent, ``|u_x| + |u_y| + |u_z|``: exact for a
    union of cubes, and no convex hull needed.

    Parameters
    ----------
    mask : numpy.ndarray of bool, 3-D
        The particle's voxels.
    voxel_size_um : float
        Voxel edge length, µm.

    Returns
    -------
    numpy.ndarray, shape (3,)
        Full lengths (not semi-axes) L1 ≥ L2 ≥ L3, µm.
    """
    coords = np.argwhere(mask).astype(float)
    if coords.shape[0] == 0:
        raise ValueError("principal_extents_um: the mask is empty")
    centred = coords - coords.mean(axis=0)
    covariance = centred.T @ centred / coords.shape[0] + np.eye(3) / 12.0
    _, directions = np.linalg.eigh(covariance)
    projections = centred @ directions
    lengths = projections.max(axis=0) - projections.min(axis=0) + np.abs(directions).sum(axis=0)
    return np.sort(lengths)[::-1] * voxel_size_um


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 hex digest of an array's dtype, shape and C-order bytes.

    Dtype and shape are hashed too, so that the same bytes read with another layout give
    another digest.

    Parameters
    ----------
    array : numpy.ndarray
        Any array without Python objects.

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256()
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- the database


def _frozen(array: np.ndarray) -> np.ndarray:
    """Return a read-only copy, so a frozen database cannot be altered in place."""
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class ParticleDatabase:
    """Secondary particles of one source volume, one record per particle.

    Attributes
    ----------
    masks : list of numpy.ndarray of bool
        One 3-D mask per particle, cropped to its bounding box, indexed [x, y, z].
    voxel_size_um : float
        Voxel edge length of the masks, µm.
    voxel_count : numpy.ndarray of int64, shape (N,)
        Voxels in each mask.
    diameter_um : numpy.ndarray of float, shape (N,)
        Volume-equivalent sphere diameter, µm.
    axes_um : numpy.ndarray of float, shape (N, 3)
        Principal semi-axes a ≥ b ≥ c of the inertia-equivalent ellipsoid, µm.
    sphericity : numpy.ndarray of float, shape (N,)
        Krumbein sphericity ``(b·c/a²)^(1/3)``.
    source : str
        Where the particles came from (a path or a description).
    source_sha256 : str
        :func:`array_sha256` of the labelled source volume.
    """

    masks: list[np.ndarray]
    voxel_size_um: float
    voxel_count: np.ndarray
    diameter_um: np.ndarray
    axes_um: np.ndarray
    sphericity: np.ndarray
    source: str
    source_sha256: str

    def __post_init__(self) -> None:
        n = len(self.masks)
        masks = [_frozen(np.asarray(m, dtype=bool)) for m in self.masks]
        if any(m.ndim != 3 for m in masks):
            raise ValueError("ParticleDatabase: every mask must be a 3-D array")
        if not self.voxel_size_um > 0:
            raise ValueError("ParticleDatabase: voxel_size_um must be > 0, got "
                             f"{self.voxel_size_um}")
        fields = {
            "voxel_count": (np.asarray(self.voxel_count, dtype=np.int64), (n,)),
            "diameter_um": (np.asarray(self.diameter_um, dtype=float), (n,)),
            "axes_um": (np.asarray(self.axes_um, dtype=float).reshape(-1, 3), (n, 3)),
            "sphericity": (np.asarray(self.sphericity, dtype=float), (n,)),
        }
        for name, (value, shape) in fields.items():
            if value.shape != shape:
                raise ValueError(f"ParticleDatabase: {name} has shape {value.shape}, "
                                 f"expected {shape}")
            object.__setattr__(self, name, _frozen(value))
        object.__setattr__(self, "masks", masks)
        object.__setattr__(self, "voxel_size_um", float(self.voxel_size_um))

    @classmethod
    def from_masks(
        cls,
        masks: Sequence[np.ndarray],
        voxel_size_um: float,
        *,
        source: str = "",
        source_sha256: str = "",
    ) -> ParticleDatabase:
        """Build a database from particle masks, computing every metric.

        Parameters
        ----------
        masks : sequence of numpy.ndarray of bool
            Cropped 3-D particle masks.
        voxel_size_um : float
            Voxel edge length, µm.
        source, source_sha256 : str
            Provenance, stored as given.
        """
        masks = [np.asarray(m, dtype=bool) for m in masks]
        counts = np.array([int(m.sum()) for m in masks], dtype=np.int64)
        axes = np.array([ellipsoid_semi_axes(m, voxel_size_um) for m in masks]).reshape(-1, 3)
        return cls(
            masks=masks,
            voxel_size_um=voxel_size_um,
            voxel_count=counts,
            diameter_um=volume_equivalent_diameter_um(counts, voxel_size_um),
            axes_um=axes,
            sphericity=krumbein_sphericity(axes),
            source=source,
            source_sha256=source_sha256,
        )

    def __len__(self) -> int:
        return len(self.masks)

    @cached_property
    def extent_axes_um(self) -> np.ndarray:
        """Caliper lengths L1 ≥ L2 ≥ L3 along each particle's principal axes, µm, shape (N, 3).

        Computed from the masks on first use (about 1 ms per particle) and not stored in the
        file, so the on-disk schema is unchanged; see :func:`principal_extents_um`.
        """
        extents = np.array([principal_extents_um(m, self.voxel_size_um) for m in self.masks])
        return _frozen(extents.reshape(-1, 3))

    @property
    def extent_sphericity(self) -> np.ndarray:
        """Krumbein sphericity ``(L2·L3/L1²)^(1/3)`` from the caliper lengths, shape (N,).

        An alternative to :attr:`sphericity` (which uses the inertia-equivalent ellipsoid);
        on the NREL volume both peak in the same 0.85–0.90 bin (docs/particle-database.md).
        """
        return krumbein_sphericity(self.extent_axes_um)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParticleDatabase):
            return NotImplemented
        return (
            self.voxel_size_um == other.voxel_size_um
            and self.source == other.source
            and self.source_sha256 == other.source_sha256
            and len(self) == len(other)
            and all(np.array_equal(a, b) for a, b in zip(self.masks, other.masks, strict=True))
            and all(
                np.array_equal(getattr(self, name), getattr(other, name))
                for name in ("voxel_count", "diameter_um", "axes_um", "sphericity")
            )
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays: equality only

    def subset(self, index: Sequence[int] | np.ndarray) -> ParticleDatabase:
        """Database of the selected particles (integer indices or a boolean selector)."""
        index = np.arange(len(self))[np.asarray(index)]
        return ParticleDatabase(
            masks=[self.masks[i] for i in index],
            voxel_size_um=self.voxel_size_um,
            voxel_count=self.voxel_count[index],
            diameter_um=self.diameter_um[index],
            axes_um=self.axes_um[index],
            sphericity=self.sphericity[index],
            source=self.source,
            source_sha256=self.source_sha256,
        )


# --------------------------------------------------------------------------- building


def build_database(labels: np.ndarray, voxel_size_um: float, **options) -> ParticleDatabase:
    """The paper's "build the database" step: :func:`analysis.separation.extract_particles`.

    ``labels`` is a labelled volume indexed [x, y, z], ``voxel_size_um`` its voxel edge in µm;
    ``options`` are the separation parameters of ``extract_particles``.
    """
    # The watershed needs scikit-image: loaded only when a database is built, not read.
    from mesosweep.analysis.separation import extract_particles  # noqa: PLC0415

    return extract_particles(labels, voxel_size_um, **options)


def build_database_from_file(
    path: str | Path,
    voxel_size_um: float,
    *,
    fmt: str | None = None,
    shape: Sequence[int] | None = None,
    dtype: np.dtype | str | None = None,
    am: int | Sequence[int] | None = None,
    cbd: int | Sequence[int] | None = None,
    pore: int | Sequence[int] | None = None,
    threshold: float | None = None,
    through_plane_axis: int = 2,
    erosion_vox: int = 1,
    min_distance_vox: int = 5,
    smooth_sigma_vox: float = 1.0,
    min_peak_vox: float = 1.0,
    min_voxels: int = 27,
    log: Callable[[str], None] | None = None,
    progress: Progress | None = None,
) -> ParticleDatabase:
    """Read an XCT volume as the user describes it and separate its particles into a database.

    Read (:func:`stages.xct_io.read_volume`) → move the through-plane axis to z
    (:func:`stages.xct_io.through_plane_last`) → map labels or a grey threshold to phases
    (:func:`stages.xct_io.labels_to_phases`) → :func:`analysis.separation.extract_particles`.

    Parameters
    ----------
    path : str or pathlib.Path
        TIFF file, folder of TIFF slices, ``.npy``, raw binary or zarr array.
    voxel_size_um : float
        Voxel edge length, µm.
    fmt, shape, dtype
        Format (guessed from the path when omitted) and, for raw files, shape and dtype; see
        :func:`stages.xct_io.read_volume`.
    am, cbd, pore : int or sequence of int, optional
        Labels of each phase in a label image (``am`` defaults to 1 when no ``threshold``).
    threshold : float, optional
        For a greyscale image: voxels brighter than this are AM.
    through_plane_axis : {0, 1, 2}
        Storage axis through the electrode's thickness; it becomes z.
    erosion_vox, min_distance_vox, smooth_sigma_vox, min_peak_vox, min_voxels
        Separation parameters, see :func:`analysis.separation.extract_particles`.
    log : callable(str), optional
        Receives one line per step (what is being done, sizes, phase fractions).
    progress : callable(done, total), optional
        Progress of the particle separation, see :func:`analysis.separation.extract_particles`.

    Returns
    -------
    ParticleDatabase
        With ``source`` set to the path.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Not an image, a wrong shape, a label absent from the image, a non-integer image where
        labels were promised, an empty AM phase, or no whole particle found; one line each.
    """
    from mesosweep.stages.xct_io import (  # noqa: PLC0415
        MIN_VOXELS_PER_AXIS,
        labels_to_phases,
        read_volume,
        through_plane_last,
    )

    say = log or (lambda line: None)
    if not voxel_size_um > 0:
        raise ValueError(f"voxel_size_um must be > 0 (µm), got {voxel_size_um}")
    if am is None and threshold is None:
        am = 1
    say(f"reading {path}")
    volume = read_volume(path, fmt=fmt, shape=shape, dtype=dtype)
    volume = through_plane_last(volume, through_plane_axis)
    say(f"volume {volume.shape[0]} x {volume.shape[1]} x {volume.shape[2]} voxels "
        f"({volume.dtype}), "
        f"through-plane axis {through_plane_axis} -> z")
    if min(volume.shape) < MIN_VOXELS_PER_AXIS:
        raise ValueError(
            f"{path}: the volume is {' x '.join(map(str, volume.shape))} voxels; a whole particle "
            f"needs at least {MIN_VOXELS_PER_AXIS} voxels along every axis (itself and background "
            "on both sides), and a tomogram far more")
    phases = labels_to_phases(volume, am=am, cbd=cbd, pore=pore, threshold=threshold)
    del volume  # the phase image replaces it: keep one full-size copy alive, not two
    from mesosweep.analysis.phases import AM  # noqa: PLC0415

    say(f"AM phase: {np.count_nonzero(phases == AM) / phases.size:.1%} of the voxels")
    db = build_database(
        phases,
        voxel_size_um,
        am_label=AM,
        erosion_vox=erosion_vox,
        min_distance_vox=min_distance_vox,
        smooth_sigma_vox=smooth_sigma_vox,
        min_peak_vox=min_peak_vox,
        min_voxels=min_voxels,
        source=str(path),
        progress=progress,
    )
    if len(db) == 0:
        raise ValueError(
            f"no whole particle found in {path}: every AM particle touches the border, is "
            f"thinner than the {2 * erosion_vox + 1} voxels the erosion before the watershed "
            f"removes (erosion_vox={erosion_vox}) or is below min_voxels={min_voxels}; check the "
            "AM label or threshold, lower erosion_vox or min_voxels, or use a larger volume"
        )
    return db


# --------------------------------------------------------------------------- storage


def _payload(db: ParticleDatabase) -> dict[str, np.ndarray]:
    """The arrays that describe a database, keyed as in the file."""
    shapes = np.array([m.shape for m in db.masks], dtype=np.int64).reshape(-1, 3)
    sizes = np.prod(shapes, axis=1) if len(db) else np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    data = np.concatenate([m.ravel() for m in db.masks]) if len(db) else np.zeros(0, dtype=bool)
    return {
        "voxel_size_um": np.float64(db.voxel_size_um),
        "mask_data": data.astype(bool),
        "mask_shapes": shapes,
        "mask_offsets": offsets,
        "voxel_count": db.voxel_count.astype(np.int64),
        "diameter_um": db.diameter_um.astype(np.float64),
        "axes_um": db.axes_um.astype(np.float64),
        "sphericity": db.sphericity.astype(np.float64),
        "source": np.str_(db.source),
        "source_sha256": np.str_(db.source_sha256),
    }


def _checksum(payload: dict[str, np.ndarray]) -> str:
    """SHA-256 over every payload array, in a fixed key order."""
    digest = hashlib.sha256()
    for key in _PAYLOAD_KEYS:
        digest.update(key.encode())
        digest.update(array_sha256(np.asarray(payload[key])).encode())
    return digest.hexdigest()


def save_database(db: ParticleDatabase, path: str | Path) -> Path:
    """Write a database to a compressed ``.npz`` file without pickled objects.

    Parameters
    ----------
    db : ParticleDatabase
        The database.
    path : str or pathlib.Path
        Destination; numpy appends ``.npz`` when the suffix is missing, and the returned path
        says where the file went.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    payload = _payload(db)
    # Written beside, then renamed: an interrupted save never leaves a truncated database.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    try:
        np.savez_compressed(
            tmp,
            kind=np.str_(_KIND),
            schema_version=np.int64(SCHEMA_VERSION),
            checksum=np.str_(_checksum(payload)),
            **payload,
        )
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk or Ctrl-C leaves no half-written file behind
        raise
    return path


def _open_npz(path: Path) -> np.lib.npyio.NpzFile:
    """An ``.npz`` archive opened lazily (each array is read when asked for), refusing pickled
    objects and anything that is not an archive."""
    if not path.is_file():
        if path.exists():
            raise ValueError(f"particle database {path} is not a file; give the .npz file")
        raise FileNotFoundError(f"particle database {path} does not exist")
    not_a_database = f"{path} is not a particle database (an .npz archive written by save_database)"
    with path.open("rb") as fh:
        single = fh.read(6) == b"\x93NUMPY"  # the magic of a .npy file
    if single:
        raise ValueError(f"{not_a_database}: it holds a single array")
    if not zipfile.is_zipfile(path):
        # numpy would call any other bytes "pickled data", which misleads about a text file
        raise ValueError(f"{not_a_database}: it is not an .npz (zip) archive")
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        # numpy reports unknown bytes as "pickled data": either way it is not our file
        raise ValueError(f"{not_a_database}: {error}") from error
    return archive


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, refusing pickled objects."""
    with _open_npz(path) as archive:
        try:
            return {key: archive[key] for key in archive.files}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
            raise ValueError(f"{path} is not a particle database (an .npz archive written by "
                             f"save_database): {error}") from error


@dataclass(frozen=True)
class DatabaseSummary:
    """What a sweep needs to know of a database before using it (see :func:`peek_database`)."""

    voxel_size_um: float
    diameter_um: np.ndarray  # volume-equivalent diameter of each particle, µm
    voxel_count: np.ndarray  # voxels of each particle


def peek_database(path: str | Path) -> DatabaseSummary:
    """The voxel size and particle sizes of a database file, without reading its masks.

    Checks that the file is a particle database of the supported schema with at least one
    particle and sane sizes; the masks and the checksum are checked by :func:`load_database`.
    Raises FileNotFoundError or ValueError (one line, naming the file).
    """
    path = Path(path)
    with _open_npz(path) as archive:
        try:
            _check_header(path, archive)
            voxel = np.asarray(archive["voxel_size_um"], dtype=float)
            diameter = np.asarray(archive["diameter_um"], dtype=float)
            count = np.asarray(archive["voxel_count"])
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: a damaged particle database ({error})") from error
    if voxel.shape != () or not np.isfinite(voxel) or not voxel > 0:
        raise ValueError(f"{path}: particle database with voxel_size_um {voxel!r}; the file is "
                         "damaged, rebuild it")
    if (diameter.ndim != 1 or diameter.size == 0 or count.shape != diameter.shape
            or not np.isfinite(diameter).all() or not (diameter > 0).all()):
        raise ValueError(f"{path}: particle database without particles or with damaged "
                         "sizes; rebuild it with `mesosweep particles build`")
    return DatabaseSummary(float(voxel), diameter, count)


def _check_header(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Raise unless the file says it is a database of the supported schema version."""
    if "kind" not in arrays or str(arrays["kind"]) != _KIND:
        raise ValueError(f"{path} is not a mesosweep particle database (no 'kind' = {_KIND!r})")
    if "schema_version" not in arrays:
        raise ValueError(f"{path}: particle database without schema_version; rebuild it with "
                         "build_database")
    version = arrays["schema_version"]
    if (version.shape != () or not np.issubdtype(version.dtype, np.integer)
            or int(version) != SCHEMA_VERSION):
        raise ValueError(
            f"{path}: particle database schema_version {version!r} is not supported "
            f"(this mesosweep reads version {SCHEMA_VERSION}); rebuild the database"
        )
    missing = [key for key in (*_PAYLOAD_KEYS, "checksum") if key not in arrays]
    if missing:
        raise ValueError(f"{path}: particle database is missing {missing}")


def _split_masks(path: Path, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Cut the flat mask data back into the particles' 3-D masks, checking the layout."""
    data, shapes, offsets = arrays["mask_data"], arrays["mask_shapes"], arrays["mask_offsets"]
    n = shapes.shape[0]
    sizes = np.prod(shapes, axis=1) if n else np.zeros(0, dtype=np.int64)
    consistent = (
        shapes.ndim == 2
        and shapes.shape[1] == 3
        and offsets.shape == (n + 1,)
        and data.ndim == 1
        and offsets[0] == 0
        and np.array_equal(np.diff(offsets), sizes)
        and offsets[-1] == data.size
    )
    if not consistent:
        raise ValueError(f"{path}: mask_data, mask_shapes and mask_offsets disagree; the file "
                         "is damaged")
    data = data.astype(bool)
    return [data[offsets[i] : offsets[i + 1]].reshape(shapes[i]) for i in range(n)]


def load_database(path: str | Path) -> ParticleDatabase:
    """Read a database written by :func:`save_database`.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.npz`` file.

    Returns
    -------
    ParticleDatabase

    Raises
    ------
    ValueError
        If the file is not a particle database, has another ``schema_version``, or its
        content does not match its checksum (damaged or edited).
    """
    path = Path(path)
    arrays = _read_npz(path)
    _check_header(path, arrays)
    payload = {key: arrays[key] for key in _PAYLOAD_KEYS}
    if _checksum(payload) != str(arrays["checksum"]):
        raise ValueError(f"{path}: checksum mismatch; the particle database was modified or "
                         "damaged")
    return ParticleDatabase(
        masks=_split_masks(path, arrays),
        voxel_size_um=float(arrays["voxel_size_um"]),
        voxel_count=arrays["voxel_count"],
        diameter_um=arrays["diameter_um"],
        axes_um=arrays["axes_um"],
        sphericity=arrays["sphericity"],
        source=str(arrays["source"]),
        source_sha256=str(arrays["source_sha256"]),
    )
