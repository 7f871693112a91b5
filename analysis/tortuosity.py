"""Tortuosity factor from steady-state diffusion on a voxel image.

Model
-----
Each voxel carries a relative diffusivity ``D`` (1 in pore, 0 in solid, in between for a
partly conducting phase such as nanoporous CBD). Concentration is fixed to 1 on the face
``axis = 0`` and to 0 on the opposite face, with no flux through the other four faces.
A finite-volume scheme on the voxel grid (voxel edge 1, so results are dimensionless)
couples face neighbours with the harmonic mean ``2 D_i D_j / (D_i + D_j)`` (two half-voxel
resistances in series) and ties the first and last voxel layers to the Dirichlet faces,
half a voxel away, with conductance ``2 D``. Then

* ``D_eff / D0 = J * L / A`` with ``J`` the steady flux, ``L`` the number of voxels along
  ``axis`` and ``A`` the cross-section in voxels (D0 = 1 by convention);
* ``eps`` = fraction of voxels with ``D > 0`` (connected to the faces or not, the
  TauFactor convention);
* ``tau = eps * D0 / D_eff``.

For a three-phase medium this means ``eps`` counts the partly conducting phase as fully
open and its lower diffusivity shows up in ``tau``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import LinearOperator, cg

__all__ = ["TortuosityResult", "tortuosity_factor"]


@dataclass(frozen=True)
class TortuosityResult:
    """Outcome of :func:`tortuosity_factor`.

    Attributes
    ----------
    tau : float
        Tortuosity factor ``eps * D0 / D_eff`` (dimensionless, >= 1 for a binary medium;
        ``inf`` when nothing percolates).
    effective_diffusivity : float
        ``D_eff / D0`` (dimensionless, 0 when nothing percolates).
    volume_fraction : float
        ``eps``, fraction of voxels with nonzero diffusivity.
    axis : int
        Axis along which the concentration drop was applied.
    iterations : int
        Conjugate-gradient iterations used (0 when nothing percolates).
    percolating : bool
        Whether a conducting path connects the two faces.
    """

    tau: float
    effective_diffusivity: float
    volume_fraction: float
    axis: int
    iterations: int
    percolating: bool


def tortuosity_factor(
    diffusivity: np.ndarray,
    axis: int = 2,
    *,
    rtol: float = 1e-6,
    maxiter: int | None = None,
) -> TortuosityResult:
    """Tortuosity factor of a voxel image along one axis.

    Parameters
    ----------
    diffusivity : numpy.ndarray, shape (nx, ny, nz)
        Relative local diffusivity ``D / D0`` per voxel (float, >= 0), or a bool mask
        (True = conducting, D = 1). Voxels are cubes; the voxel size cancels out.
    axis : int, default 2
        Transport axis (2 = through-plane, 0 or 1 = in-plane).
    rtol : float, default 1e-6
        Relative residual ``||b - A c|| / ||b||`` at which conjugate gradients stop.
    maxiter : int, optional
        Iteration cap (default: scipy's, ten times the number of unknowns).

    Returns
    -------
    TortuosityResult
        ``tau``, ``effective_diffusivity`` (D_eff/D0), ``volume_fraction`` (eps),
        ``axis``, ``iterations``, ``percolating``.

    Warns
    -----
    RuntimeWarning
        If no conducting path connects the two faces (then ``tau = inf`` and
        ``effective_diffusivity = 0``), or if the solver does not reach ``rtol``.

    Notes
    -----
    Voxels not connected (through faces) to both Dirichlet faces carry no flux and are
    dropped before solving. The system is solved by Jacobi-preconditioned conjugate
    gradients from a linear initial profile. Only the strictly lower triangle of the
    symmetric matrix is stored (CSR, int32 indices), about 44 bytes per conducting voxel
    plus a few solver vectors. Jacobi-CG needs a number of iterations roughly proportional
    to the image length along ``axis``; measured on 256 x 256 x 300 voxels (19.7 M,
    eps = 0.34): 1442 iterations, 1.5 GB peak, about 3 min on one core.
    """
    d = _as_diffusivity(diffusivity)
    if not -d.ndim <= axis < d.ndim:
        raise ValueError(f"axis must be in [-{d.ndim}, {d.ndim - 1}], got {axis!r}")
    axis = int(axis) % d.ndim
    if not rtol > 0:
        raise ValueError(f"rtol must be > 0, got {rtol!r}")

    eps = float(np.count_nonzero(d)) / d.size
    # Put the transport axis first; a view, so no copy of a large image.
    d = np.moveaxis(d, axis, 0)
    mask = _connected_to_both_faces(d > 0)
    if mask is None:
        warnings.warn(
            f"no conducting path connects the two faces normal to axis {axis}; "
            "tau is infinite",
            RuntimeWarning,
            stacklevel=2,
        )
        return TortuosityResult(np.inf, 0.0, eps, axis, 0, False)

    flux, iterations, converged = _solve(d, mask, rtol, maxiter)
    if not converged:
        warnings.warn(
            f"conjugate gradients stopped after {iterations} iterations before reaching "
            f"rtol={rtol}; tau may be inaccurate",
            RuntimeWarning,
            stacklevel=2,
        )
    length = d.shape[0]
    area = d.shape[1] * d.shape[2]
    d_eff = flux * length / area
    return TortuosityResult(eps / d_eff, d_eff, eps, axis, iterations, True)


# --------------------------------------------------------------------------- helpers


def _as_diffusivity(diffusivity: np.ndarray) -> np.ndarray:
    d = np.asarray(diffusivity)
    if d.ndim != 3:
        raise ValueError(f"diffusivity must be a 3-D array, got shape {d.shape}")
    if d.dtype == bool:
        return d.astype(np.float64)
    if not np.issubdtype(d.dtype, np.number) or np.iscomplexobj(d):
        raise ValueError(f"diffusivity must be a real or bool array, got dtype {d.dtype}")
    d = d.astype(np.float64, copy=False)
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError("diffusivity must be finite and >= 0 everywhere")
    return d


def _connected_to_both_faces(conducting: np.ndarray) -> np.ndarray | None:
    """Voxels of face-connected clusters touching both ends of axis 0, or None."""
    labels, _ = ndimage.label(conducting)
    inlet = np.unique(labels[0])
    outlet = np.unique(labels[-1])
    spanning = np.intersect1d(inlet[inlet > 0], outlet[outlet > 0])
    if spanning.size == 0:
        return None
    return np.isin(labels, spanning)


def _axis_slices(axis: int, ndim: int = 3) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices selecting the lower and upper voxel of every face pair along ``axis``."""
    lo = [slice(None)] * ndim
    hi = [slice(None)] * ndim
    lo[axis] = slice(None, -1)
    hi[axis] = slice(1, None)
    return tuple(lo), tuple(hi)


def _solve(
    d: np.ndarray, mask: np.ndarray, rtol: float, maxiter: int | None
) -> tuple[float, int, bool]:
    """Steady flux through the masked voxels (transport along axis 0), in voxel units.

    Returns the mean of inlet and outlet flux (equal at convergence), the number of
    iterations and whether the solver reached ``rtol``.
    """
    n = int(np.count_nonzero(mask))
    if n >= np.iinfo(np.int32).max:
        raise ValueError(f"{n} conducting voxels exceed int32 indexing")
    index = np.full(mask.shape, -1, dtype=np.int32)
    index[mask] = np.arange(n, dtype=np.int32)

    lower, diag = _lower_matrix(d, mask, index, n)
    # Dirichlet faces half a voxel from the first and last layers: conductance 2 D.
    inlet = index[0][mask[0]]
    outlet = index[-1][mask[-1]]
    g_in = 2.0 * d[0][mask[0]]
    g_out = 2.0 * d[-1][mask[-1]]
    diag[inlet] += g_in  # indices within one face are distinct
    diag[outlet] += g_out
    rhs = np.zeros(n)
    rhs[inlet] = g_in  # concentration 1 on the inlet face, 0 on the outlet face

    upper = lower.T  # CSC view of the transpose, no copy

    def matvec(x: np.ndarray) -> np.ndarray:
        x = x.reshape(-1)
        return diag * x - lower @ x - upper @ x

    inv_diag = 1.0 / diag
    operator = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    jacobi = LinearOperator((n, n), matvec=lambda x: inv_diag * x.reshape(-1), dtype=np.float64)

    # A linear profile is exact for straight channels and a good start otherwise.
    layer = np.broadcast_to(
        np.arange(mask.shape[0]).reshape(-1, 1, 1), mask.shape
    )[mask]
    x0 = 1.0 - (layer + 0.5) / mask.shape[0]

    iterations = 0

    def count(_: np.ndarray) -> None:
        nonlocal iterations
        iterations += 1

    c, info = cg(
        operator, rhs, x0=x0, rtol=rtol, atol=0.0, maxiter=maxiter, M=jacobi, callback=count
    )
    flux_in = float(np.sum(g_in * (1.0 - c[inlet])))
    flux_out = float(np.sum(g_out * c[outlet]))
    return 0.5 * (flux_in + flux_out), iterations, info == 0


def _lower_matrix(
    d: np.ndarray, mask: np.ndarray, index: np.ndarray, n: int
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Strictly lower triangle of the conductance matrix (negated) and its diagonal.

    The entry (row, col) with col < row holds the face conductance between the two
    voxels. Unknowns are numbered in C order, so a voxel's lower neighbours along axes
    0, 1, 2 have increasing column numbers and each row is built already sorted; the CSR
    arrays are filled directly without a COO intermediate.
    """
    rows, cols, conductances = [], [], []
    for ax in range(3):
        lo, hi = _axis_slices(ax)
        both = mask[hi] & mask[lo]
        d_hi = d[hi][both]
        d_lo = d[lo][both]
        rows.append(index[hi][both])  # C order of the upper voxel: rows ascending
        cols.append(index[lo][both])
        conductances.append(2.0 * d_hi * d_lo / (d_hi + d_lo))

    per_axis = [np.bincount(r, minlength=n).astype(np.int32) for r in rows]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(per_axis[0] + per_axis[1] + per_axis[2], out=indptr[1:])
    nnz = int(indptr[-1])
    indptr = indptr.astype(np.int32) if nnz < np.iinfo(np.int32).max else indptr
    indices = np.empty(nnz, dtype=np.int32)
    data = np.empty(nnz, dtype=np.float64)
    diag = np.zeros(n, dtype=np.float64)
    slot_offset = np.zeros(n, dtype=np.int32)
    for r, c, g, count in zip(rows, cols, conductances, per_axis):
        where = indptr[r] + slot_offset[r]
        indices[where] = c
        data[where] = g
        slot_offset += count
        diag += np.bincount(r, weights=g, minlength=n)
        diag += np.bincount(c, weights=g, minlength=n)
    lower = sparse.csr_matrix((data, indices, indptr), shape=(n, n))
    lower.has_sorted_indices = True
    return lower, diag
