"""Reading XCT volumes and mapping their labels (or grey values) to mesosweep phases.

Supported inputs: a multi-page TIFF file, a folder of 2-D TIFF slices (stacked in name order),
a ``.npy`` file (never unpickled), a raw binary file (the caller gives shape and dtype) and a
zarr array. Volumes come back in storage order: axis 0 is the page, slice or first stored
axis. mesosweep indexes arrays [x, y, z] with z through-plane: :func:`through_plane_last`
moves the through-plane axis last without mirroring the volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tifffile

from mesosweep.analysis.phases import AM, CBD, PORE

__all__ = ["FORMATS", "MIN_VOXELS_PER_AXIS", "check_volume_dtype", "labels_to_phases",
           "read_volume", "through_plane_last"]

#: Format names accepted by :func:`read_volume`'s ``fmt``.
FORMATS = ("tiff", "tiff-folder", "npy", "raw", "zarr")
#: What a voxel of a tomogram holds: a boolean, an integer (label or grey value) or a float
#: (grey value). numpy's kind letters; strings, objects, dates and complex numbers are refused.
VOLUME_DTYPE_KINDS = "buif"
#: A whole particle needs a voxel of background on each side: fewer voxels along an axis hold
#: none (the separation drops particles that touch the volume's border).
MIN_VOXELS_PER_AXIS = 3
_TIFF_SUFFIXES = (".tif", ".tiff")
_RAW_SUFFIXES = (".raw", ".bin", ".dat", ".vol")


def _guess_format(path: Path) -> str:
    """Format of ``path`` from its suffix or, for a folder, its content."""
    if path.is_dir():
        if path.suffix == ".zarr" or (path / "zarr.json").is_file() or (path / ".zarray").is_file():
            return "zarr"
        if any(p.suffix.lower() in _TIFF_SUFFIXES for p in path.iterdir()):
            return "tiff-folder"
        raise ValueError(
            f"{path} is a folder with neither TIFF slices nor a zarr array; "
            f"point to the volume itself or pass fmt= (one of {FORMATS})"
        )
    suffix = path.suffix.lower()
    if suffix in _TIFF_SUFFIXES:
        return "tiff"
    if suffix == ".npy":
        return "npy"
    if suffix in _RAW_SUFFIXES:
        return "raw"
    raise ValueError(
        f"cannot tell the format of {path} from its suffix {suffix!r}; pass fmt= (one of "
        f"{FORMATS}); raw files also need shape= and dtype="
    )


def check_volume_dtype(dtype: np.dtype | str, where: str) -> np.dtype:
    """``dtype`` as a numpy dtype if a tomogram's voxels can hold it, else ValueError naming
    ``where`` (a file or an option) and what is allowed."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"{where}: {dtype!r} is not a numpy dtype; use e.g. uint8, uint16, "
                         "'<u2', float32") from None
    if dtype.kind not in VOLUME_DTYPE_KINDS or dtype.itemsize == 0 or dtype.shape:
        raise ValueError(f"{where}: voxels of {dtype} ({dtype.str!r}) cannot be a tomogram's; "
                         "a volume holds booleans, integers (labels or grey values) or floats, "
                         "e.g. uint8, uint16, '<u2', float32")
    return dtype


def _read_tiff(path: Path) -> np.ndarray:
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            # Samples per pixel (red, green, blue ...): not read, refused below.
            volume = None if "S" in series.axes else series.asarray()
    except (tifffile.TiffFileError, IndexError, ValueError, OSError) as error:
        raise ValueError(
            f"{path} is not a readable TIFF image ({error}); check the file or pass fmt="
        ) from error
    if volume is None:
        raise ValueError(
            f"{path} is a colour (RGB) image, axes {series.axes!r} of shape {series.shape}; a "
            "tomogram is one grey value or label per voxel: save its labels or grey values as a "
            "single-channel image")
    return volume


def _read_tiff_folder(path: Path) -> np.ndarray:
    slices = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _TIFF_SUFFIXES)
    if not slices:
        raise ValueError(f"{path} holds no .tif/.tiff slices")
    images = [_read_tiff(p) for p in slices]
    shapes = {image.shape for image in images}
    if any(image.ndim != 2 for image in images) or len(shapes) != 1:
        raise ValueError(
            f"the slices in {path} must all be 2-D images of one size, found shapes "
            f"{sorted(shapes)}"
        )
    return np.stack(images)


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset of a .npy file, read from its header alone."""
    with path.open("rb") as fh:
        if fh.read(2) == b"PK":
            raise ValueError(f"{path} is an .npz archive, not a single .npy array; extract "
                             "the volume first")
        fh.seek(0)
        version = np.lib.format.read_magic(fh)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(fh)
        return tuple(shape), dtype, fh.tell()


def _read_npy(path: Path) -> np.ndarray:
    # The header first: it says what the data must be, before any of it is read or allocated.
    try:
        shape, dtype, offset = _npy_header(path)
    except ValueError as error:  # no .npy magic, or a header numpy cannot read
        raise ValueError(
            f"{path} is not a plain numeric .npy array ({error}); save it with np.save of a "
            "numeric array"
        ) from error
    if dtype.hasobject:
        raise ValueError(f"{path} holds Python objects, which would need unpickling; it is not "
                         "a plain numeric .npy array: save a numeric array with np.save")
    check_volume_dtype(dtype, str(path))
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    actual = path.stat().st_size - offset
    if actual != expected:
        raise ValueError(
            f"{path}: its header promises shape {shape} of {dtype} ({expected} bytes of data) "
            f"but the file holds {actual}; it is truncated or its header was edited: save it "
            "again with np.save")
    return np.load(path, allow_pickle=False)


def _read_raw(path: Path, shape: Sequence[int] | None, dtype: np.dtype | str | None) -> np.ndarray:
    if shape is None or dtype is None:
        raise ValueError(
            f"{path}: a raw binary volume needs shape= (e.g. (251, 301, 301)) "
            "and dtype= (e.g. 'uint8' or '<u2')"
        )
    dtype = check_volume_dtype(dtype, f"{path}: dtype")
    shape = tuple(int(s) for s in shape)
    if min(shape, default=0) < 1:
        raise ValueError(f"{path}: shape {shape}; a raw volume has three positive lengths")
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    actual = path.stat().st_size
    if actual != expected:
        raise ValueError(
            f"{path} has {actual} bytes, but shape {shape} of {dtype} needs {expected}; "
            "check shape= and dtype="
        )
    return np.fromfile(path, dtype=dtype).reshape(shape)


def _read_zarr(path: Path) -> np.ndarray:
    import zarr  # noqa: PLC0415 - only a .zarr volume needs it; the other formats stay light

    try:
        node = zarr.open(str(path), mode="r")
    except Exception as error:  # zarr raises several unrelated types for "not a store"
        raise ValueError(f"{path} is not a readable zarr store ({error})") from error
    if not isinstance(node, zarr.Array):
        raise ValueError(
            f"{path} is a zarr group, not an array; pass the path of the array inside it")
    return node[...]


def read_volume(
    path: str | Path,
    *,
    fmt: str | None = None,
    shape: Sequence[int] | None = None,
    dtype: np.dtype | str | None = None,
) -> np.ndarray:
    """Read a 3-D XCT volume.

    Parameters
    ----------
    path : str or pathlib.Path
        A TIFF file, a folder of TIFF slices, an ``.npy`` file, a raw binary file, or a zarr
        array (folder).
    fmt : {"tiff", "tiff-folder", "npy", "raw", "zarr"}, optional
        Format; guessed from the suffix (or a folder's content) when omitted.
    shape : sequence of 3 int, optional
        Shape of a raw volume (required for raw, ignored otherwise).
    dtype : numpy dtype or str, optional
        Element type of a raw volume, with byte order if it matters (required for raw).

    Returns
    -------
    numpy.ndarray
        The volume, 3-D, in storage order.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an image of the format, is not 3-D, or a raw file's size does
        not match ``shape`` and ``dtype``. The message names the fix.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no volume at {path}")
    fmt = fmt or _guess_format(path)
    readers = {
        "tiff": lambda: _read_tiff(path),
        "tiff-folder": lambda: _read_tiff_folder(path),
        "npy": lambda: _read_npy(path),
        "raw": lambda: _read_raw(path, shape, dtype),
        "zarr": lambda: _read_zarr(path),
    }
    if fmt not in readers:
        raise ValueError(f"unknown fmt {fmt!r}; use one of {FORMATS}")
    volume = np.asarray(readers[fmt]())
    if volume.ndim != 3:
        raise ValueError(
            f"{path} holds an array of shape {volume.shape} ({volume.ndim}-D); a volume must be "
            "3-D (a single 2-D slice or a multi-channel image is not a tomogram)"
        )
    if volume.size == 0:
        raise ValueError(f"{path} holds no voxels (shape {volume.shape}); give a tomogram")
    check_volume_dtype(volume.dtype, str(path))
    return volume


def through_plane_last(volume: np.ndarray, axis: int) -> np.ndarray:
    """The volume with its through-plane axis moved last (z), as mesosweep indexes it.

    The axes are permuted cyclically (0 → (1, 2, 0), 1 → (2, 0, 1)), which is a rotation:
    swapping two axes instead would mirror every particle, turning its shape into its mirror
    image.

    Parameters
    ----------
    volume : numpy.ndarray, 3-D
        The volume in storage order.
    axis : {0, 1, 2}
        The storage axis that runs through the electrode's thickness (current collector to
        surface).

    Returns
    -------
    numpy.ndarray
        A view with ``volume.shape[axis]`` as its last dimension.
    """
    if volume.ndim != 3:
        raise ValueError(f"through_plane_last: expected a 3-D volume, got shape {volume.shape}")
    if isinstance(axis, bool) or axis not in (0, 1, 2):
        raise ValueError(
            f"through-plane axis must be 0, 1 or 2 (an axis of the stored volume), got {axis!r}")
    order = {0: (1, 2, 0), 1: (2, 0, 1), 2: (0, 1, 2)}[int(axis)]
    return volume.transpose(order)


def _as_label_set(labels: int | Sequence[int] | None) -> tuple[int, ...]:
    """Normalise one label or several labels to a tuple of ints."""
    if labels is None:
        return ()
    if np.ndim(labels) == 0:
        return (int(labels),)
    return tuple(int(v) for v in labels)


def _threshold_phases(volume: np.ndarray, threshold: float) -> np.ndarray:
    """Grey values above ``threshold`` become AM (dense oxide is bright in XCT), the rest PORE."""
    if not np.isfinite(threshold):
        raise ValueError(f"threshold {threshold!r}: a grey value must be a finite number")
    if volume.dtype.kind not in "buif":
        raise ValueError(f"a threshold needs grey values, but the volume holds {volume.dtype}")
    if volume.dtype.kind == "f":
        # NaN compares False with everything: it would silently become pore.
        missing = int(np.count_nonzero(np.isnan(volume)))
        if missing:
            raise ValueError(
                f"{missing} of {volume.size} voxels are NaN (not a number); a grey value must be "
                "a number: fill or crop the missing voxels before thresholding")
    return np.where(volume > threshold, AM, PORE).astype(np.uint8)


def _label_phases(
    volume: np.ndarray, am: tuple[int, ...], cbd: tuple[int, ...], pore: tuple[int, ...] | None
) -> np.ndarray:
    """Map label sets to phases; labels outside every set become PORE unless ``pore`` is given."""
    if volume.dtype.kind not in "bui":
        raise ValueError(
            f"labels were promised but the volume holds {volume.dtype} values; "
            + ("pass threshold= for a greyscale image, or convert a label image to an integer "
               "type" if volume.dtype.kind == "f" else
               "a label image holds integers (e.g. uint8, uint16)"))
    present = np.unique(volume)
    named = {"am": am, "cbd": cbd, "pore": pore or ()}
    for name, values in named.items():
        missing = sorted(set(values) - set(present.tolist()))
        if missing:
            raise ValueError(
                f"{name} label(s) {missing} not present in the volume; labels present: "
                f"{present.tolist()}"
            )
    shared = (set(am) & set(cbd)) | ((set(am) | set(cbd)) & set(pore or ()))
    if shared:
        raise ValueError(f"label(s) {sorted(shared)} given to more than one phase")
    if pore is not None:
        unassigned = sorted(set(present.tolist()) - set(am) - set(cbd) - set(pore))
        if unassigned:
            raise ValueError(
                f"label(s) {unassigned} are in the volume but in none of am/cbd/pore; "
                "add them to one, or leave pore=None to map every other label to PORE"
            )
    phases = np.full(volume.shape, PORE, dtype=np.uint8)
    phases[np.isin(volume, am)] = AM
    if cbd:
        phases[np.isin(volume, cbd)] = CBD
    return phases


def labels_to_phases(
    volume: np.ndarray,
    *,
    am: int | Sequence[int] | None = None,
    cbd: int | Sequence[int] | None = None,
    pore: int | Sequence[int] | None = None,
    threshold: float | None = None,
) -> np.ndarray:
    """Map a labelled (or greyscale) volume to mesosweep's ``PORE`` / ``AM`` / ``CBD`` labels.

    Give ``am`` (and optionally ``cbd`` and ``pore``) for a label image, or ``threshold`` for a
    greyscale image, not both.

    Parameters
    ----------
    volume : numpy.ndarray, 3-D
        The image.
    am, cbd, pore : int or sequence of int, optional
        The image's label(s) of each phase. Every ``am``/``cbd``/``pore`` label must occur in
        the image. With ``pore`` omitted every other label is PORE; with ``pore`` given every
        label must be assigned.
    threshold : float, optional
        Grey value above which a voxel is AM; everything else is PORE.

    Returns
    -------
    numpy.ndarray of uint8
        Phase labels, same shape.

    Raises
    ------
    ValueError
        Not a 3-D image, both or neither of ``am``/``threshold`` given, a non-integer image
        where labels were promised, a label absent from the image, a label in two phases, an
        unassigned label, or an empty AM phase.
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"expected a 3-D volume, got shape {volume.shape}")
    if (am is None) == (threshold is None):
        raise ValueError(
            "give either am= (label image) or threshold= (greyscale image), exactly one of them")
    if threshold is not None:
        if cbd is not None or pore is not None:
            raise ValueError("cbd= and pore= are labels; they cannot be combined with threshold=")
        phases = _threshold_phases(volume, float(threshold))
    else:
        phases = _label_phases(
            volume, _as_label_set(am), _as_label_set(cbd),
            None if pore is None else _as_label_set(pore))
    if not (phases == AM).any():
        raise ValueError("the AM phase is empty: check the am label(s) or lower the threshold")
    return phases
