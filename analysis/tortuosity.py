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

Solver
------
The flux is taken from the dissipation ``W(c) = sum over faces g (c_i - c_j)^2`` (boundary
faces included), which for a unit concentration drop equals ``J`` at the solution and
exceeds it by exactly ``||c - c*||_A^2`` elsewhere. The error of ``D_eff`` is therefore the
square of the solution error, so a loosely converged field already gives an accurate
``tau``, and the estimate approaches ``J`` from above.

The linear system is solved by conjugate gradients preconditioned with one V-cycle of an
aggregation multigrid built on the voxel grid: 2 x 2 x 2 blocks of voxels form the unknowns
of the next coarser level, whose operator (the Galerkin product with piecewise-constant
interpolation) is again a 7-point stencil, with face conductances summed over the four
fine faces between two blocks. Damped Jacobi smooths on each level and a sparse LU solves
the coarsest one (a few thousand unknowns). The iteration count hardly grows with the
image size, unlike plain Jacobi-preconditioned CG whose count grows with the length.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import splu

__all__ = ["TortuosityResult", "tortuosity_factor"]

# Multigrid settings, tuned on the 22.7 M-voxel NREL volume and small analytic cases.
#: Unknowns at or below which a level is solved directly.
_COARSEST_SIZE = 3000
#: Weight of damped Jacobi smoothing; below 1 so that it damps the highest frequencies.
_JACOBI_WEIGHT = 0.6
#: Jacobi sweeps before and after the coarse correction (equal, so the cycle is symmetric).
_SMOOTHING_STEPS = 2
#: Piecewise-constant interpolation makes the coarse operator about twice too stiff
#: (four unit faces in series-parallel span two voxels), so the correction is scaled up.
_OVERCORRECTION = 1.8
#: Largest geometric rate assumed when extrapolating the remaining energy error.
_MAX_RATE = 0.99


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
        Conjugate-gradient iterations used (0 when nothing percolates or the initial
        linear profile is already exact).
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
    rtol: float = 1e-5,
    maxiter: int = 500,
) -> TortuosityResult:
    """Tortuosity factor of a voxel image along one axis.

    Parameters
    ----------
    diffusivity : numpy.ndarray, shape (nx, ny, nz)
        Relative local diffusivity ``D / D0`` per voxel (float, >= 0), or a bool mask
        (True = conducting, D = 1). Voxels are cubes; the voxel size cancels out.
    axis : int, default 2
        Transport axis (2 = through-plane, 0 or 1 = in-plane).
    rtol : float, default 1e-5
        Target relative error of ``D_eff`` (and so of ``tau``). Iterations stop when the
        extrapolated remaining dissipation error falls below ``rtol`` times the current
        dissipation.
    maxiter : int, default 500
        Iteration cap; a multigrid-preconditioned solve normally needs 5-30.

    Returns
    -------
    TortuosityResult
        ``tau``, ``effective_diffusivity`` (D_eff/D0), ``volume_fraction`` (eps),
        ``axis``, ``iterations``, ``percolating``.

    Warns
    -----
    RuntimeWarning
        If no conducting path connects the two faces (then ``tau = inf`` and
        ``effective_diffusivity = 0``), or if the solver stops at ``maxiter`` before
        reaching ``rtol`` (the returned ``D_eff`` is then still an upper bound).

    Notes
    -----
    Voxels not connected (through faces) to both Dirichlet faces carry no flux and are
    dropped before solving. ``D_eff`` comes from the dissipation of the approximate field,
    an upper bound that converges quadratically (see the module notes). Memory: the
    fine-level matrix in CSR (about 80 bytes per conducting voxel) plus about ten vectors of
    8 bytes per conducting voxel; the coarse levels add about 15 %. Measured on the NREL
    volume (22.7 M voxels, 11.4 M conducting) in ``bench/tortuosity.py``.
    """
    d = _as_diffusivity(diffusivity)
    if not -d.ndim <= axis < d.ndim:
        raise ValueError(f"axis must be in [-{d.ndim}, {d.ndim - 1}], got {axis!r}")
    axis = int(axis) % d.ndim
    if not 0 < rtol < 1:
        raise ValueError(f"rtol must be in (0, 1), got {rtol!r}")
    if int(maxiter) != maxiter or maxiter < 1:
        raise ValueError(f"maxiter must be an integer >= 1, got {maxiter!r}")

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

    length, area = mask.shape[0], mask.shape[1] * mask.shape[2]
    dissipation, iterations, converged = _solve(_system(d, mask), rtol, int(maxiter))
    if not converged:
        warnings.warn(
            f"the solver stopped after {iterations} iterations before reaching "
            f"rtol={rtol}; tau may be underestimated",
            RuntimeWarning,
            stacklevel=2,
        )
    d_eff = dissipation * length / area
    return TortuosityResult(eps / d_eff, d_eff, eps, axis, iterations, True)


# --------------------------------------------------------------------------- input


def _as_diffusivity(diffusivity: np.ndarray) -> np.ndarray:
    d = np.asarray(diffusivity)
    if d.ndim != 3:
        raise ValueError(f"diffusivity must be a 3-D array, got shape {d.shape}")
    if d.dtype == bool:
        return d
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
    # A lookup table is far cheaper than np.isin on a 20 M-voxel label image.
    keep = np.zeros(int(labels.max()) + 1, dtype=bool)
    keep[spanning] = True
    return keep[labels]


def _axis_slices(axis: int, ndim: int = 3) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices selecting the lower and upper voxel of every face pair along ``axis``."""
    lo = [slice(None)] * ndim
    hi = [slice(None)] * ndim
    lo[axis] = slice(None, -1)
    hi[axis] = slice(1, None)
    return tuple(lo), tuple(hi)


# --------------------------------------------------------------------------- grid levels


@dataclass(frozen=True)
class _Grid:
    """A conductance network on a voxel grid, transport along axis 0.

    ``faces[a]`` holds the conductance of the face between voxel ``i`` and ``i + 1`` along
    axis ``a`` (0 where no flux can pass); ``inlet`` and ``outlet`` hold the conductances of
    the first and last layer to their Dirichlet faces (concentration 1 and 0); ``active``
    marks the voxels that are unknowns, numbered in C order.
    """

    faces: tuple[np.ndarray, np.ndarray, np.ndarray]
    inlet: np.ndarray
    outlet: np.ndarray
    active: np.ndarray


def _fine_grid(d: np.ndarray, mask: np.ndarray) -> _Grid:
    """Face conductances (harmonic means) of the voxels in ``mask``."""
    faces = []
    for ax in range(3):
        lo, hi = _axis_slices(ax)
        both = mask[lo] & mask[hi]
        if d.dtype == bool:
            # Harmonic mean of 1 and 1; float32 holds the sums of coarser levels exactly
            # and halves the largest arrays of the solver.
            faces.append(both.astype(np.float32))
            continue
        d_lo, d_hi = d[lo], d[hi]
        g = np.zeros(both.shape)
        np.divide(2.0 * d_lo * d_hi, d_lo + d_hi, out=g, where=both)
        faces.append(g)
    inlet = 2.0 * np.where(mask[0], d[0], 0).astype(np.float64)
    outlet = 2.0 * np.where(mask[-1], d[-1], 0).astype(np.float64)
    return _Grid(tuple(faces), inlet, outlet, mask)


def _pair_sum(array: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Sum neighbouring pairs along ``axes`` (zero-padded to even length)."""
    pad = [(0, (n % 2) if a in axes else 0) for a, n in enumerate(array.shape)]
    if any(p[1] for p in pad):
        array = np.pad(array, pad)
    shape: list[int] = []
    for a, n in enumerate(array.shape):
        shape += [n // 2, 2] if a in axes else [n]
    split = array.reshape(shape)
    # After the reshape, axis a of the input sits at a + (number of split axes before a).
    summed = tuple(a + sum(1 for b in axes if b < a) + 1 for a in axes)
    return split.sum(axis=summed)


def _coarsen(grid: _Grid) -> tuple[_Grid, np.ndarray]:
    """Next level: 2 x 2 x 2 blocks of voxels become one unknown.

    Returns the coarse grid and, for each fine unknown, the number of its coarse unknown.
    The coarse operator is the Galerkin product with piecewise-constant interpolation: a
    coarse face sums the (up to four) fine faces between two blocks, and faces inside a
    block drop out.
    """
    faces = []
    for ax in range(3):
        between_blocks = [slice(None)] * 3
        between_blocks[ax] = slice(1, None, 2)  # fine face 2I+1 joins blocks I and I+1
        others = tuple(b for b in range(3) if b != ax)
        faces.append(_pair_sum(grid.faces[ax][tuple(between_blocks)], others))
    inlet = _pair_sum(grid.inlet, (0, 1))
    outlet = _pair_sum(grid.outlet, (0, 1))
    active = _pair_sum(grid.active.astype(np.uint8), (0, 1, 2)) > 0

    number = np.full(active.shape, -1, dtype=np.int32)
    number[active] = np.arange(np.count_nonzero(active), dtype=np.int32)
    fine_shape = grid.active.shape
    spread = number.repeat(2, 0).repeat(2, 1).repeat(2, 2)
    to_coarse = spread[: fine_shape[0], : fine_shape[1], : fine_shape[2]][grid.active]
    return _Grid(tuple(faces), inlet, outlet, active), to_coarse


# Voxels per slab when the matrix is assembled; bounds the temporaries (~100 MB).
_SLAB_VOXELS = 1 << 20
#: The seven entries of a row in column order: (axis, side) of the neighbour, diagonal as
#: axis -1. Neighbours below along 0, 1, 2 have lower numbers, those above higher ones.
_KINDS = ((0, -1), (1, -1), (2, -1), (-1, 0), (2, 1), (1, 1), (0, 1))
_OFF_DIAGONAL = [0, 1, 2, 4, 5, 6]


def _assemble(grid: _Grid) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Symmetric system matrix (CSR, diagonal included) of a grid, and its diagonal.

    Unknowns are numbered in C order, so in every row the neighbours below along axes 0,
    1, 2 come first, then the diagonal, then the neighbours above along axes 2, 1, 0. Each
    slab of layers along axis 0 lays out the seven candidate entries of its rows side by
    side in that order and keeps the open ones, which gives the CSR arrays directly, in
    order, with slicing and boolean selection only.
    """
    active = grid.active
    nx, ny, nz = active.shape
    n = int(np.count_nonzero(active))
    nnz = n + 2 * sum(int(np.count_nonzero(f)) for f in grid.faces)
    if nnz >= np.iinfo(np.int32).max:
        raise ValueError(f"{n} conducting voxels exceed int32 sparse indexing")
    number = np.full(active.shape, -1, dtype=np.int32)
    number[active] = np.arange(n, dtype=np.int32)

    indptr = np.zeros(n + 1, dtype=np.int32)
    indices = np.empty(nnz, dtype=np.int32)
    data = np.empty(nnz, dtype=np.float64)
    diag = np.empty(n, dtype=np.float64)
    row, slot = 0, 0
    step = max(1, _SLAB_VOXELS // (ny * nz))
    g_buf = np.empty((min(step, nx), ny, nz))
    col_buf = np.empty((min(step, nx), ny, nz), dtype=np.int32)
    for x0 in range(0, nx, step):
        x1 = min(x0 + step, nx)
        here = active[x0:x1]
        rows = int(np.count_nonzero(here))
        g = np.empty((rows, 7))  # conductance to each neighbour kind, per row
        col = np.empty((rows, 7), dtype=np.int32)
        g_slab, col_slab = g_buf[: x1 - x0], col_buf[: x1 - x0]
        for kind, (ax, side) in enumerate(_KINDS):
            if ax < 0:
                continue  # the diagonal, filled below
            g_slab.fill(0.0)
            # Face f along ax joins voxels f and f + 1: voxel i has face i - 1 below and
            # face i above. Index the slab's voxels (dst), their faces and neighbours.
            dst = [slice(None)] * 3
            face = [slice(None)] * 3
            other = [slice(None)] * 3
            if ax == 0:
                lo = max(x0, 1) if side < 0 else x0
                hi = x1 if side < 0 else min(x1, nx - 1)
                dst[0] = slice(lo - x0, hi - x0)
                face[0] = slice(lo - 1, hi - 1) if side < 0 else slice(lo, hi)
                other[0] = slice(lo - 1, hi - 1) if side < 0 else slice(lo + 1, hi + 1)
            else:
                size = active.shape[ax]
                dst[0] = face[0] = other[0] = slice(x0, x1)
                dst[0] = slice(0, x1 - x0)
                dst[ax] = slice(1, size) if side < 0 else slice(0, size - 1)
                face[ax] = slice(0, size - 1)
                other[ax] = slice(0, size - 1) if side < 0 else slice(1, size)
            g_slab[tuple(dst)] = grid.faces[ax][tuple(face)]
            col_slab[tuple(dst)] = number[tuple(other)]
            np.negative(g_slab, out=g_slab)  # off-diagonal entries are -conductance
            g[:, kind] = g_slab[here]
            col[:, kind] = col_slab[here]
        diagonal = -g[:, _OFF_DIAGONAL].sum(axis=1)
        if x0 == 0:
            diagonal[: np.count_nonzero(here[0])] += grid.inlet[here[0]]
        if x1 == nx:
            diagonal[rows - np.count_nonzero(here[-1]) :] += grid.outlet[here[-1]]
        g[:, 3] = diagonal
        col[:, 3] = np.arange(row, row + rows, dtype=np.int32)
        diag[row : row + rows] = diagonal
        keep = g != 0
        keep[:, 3] = True
        count = int(np.count_nonzero(keep))
        np.cumsum(keep.sum(axis=1, dtype=np.int32), out=indptr[row + 1 : row + rows + 1])
        indptr[row + 1 : row + rows + 1] += slot
        indices[slot : slot + count] = col[keep]
        data[slot : slot + count] = g[keep]
        row += rows
        slot += count
    matrix = sparse.csr_matrix((data, indices, indptr), shape=(n, n))
    matrix.has_sorted_indices = True
    return matrix, diag


@dataclass(frozen=True)
class _Level:
    """One multigrid level: its matrix, Jacobi weights and the map to the next level."""

    matrix: sparse.csr_matrix
    smoother: np.ndarray  # Jacobi weight over the diagonal, per unknown
    to_coarse: np.ndarray | None  # coarse unknown of each unknown; None on the coarsest
    n_coarse: int


@dataclass(frozen=True)
class _System:
    """The fine-level problem and its multigrid hierarchy."""

    levels: list[_Level]
    coarsest: object  # scipy SuperLU of the coarsest matrix
    inlet_unknowns: np.ndarray  # right-hand side: conductance to c = 1 on these unknowns
    inlet_conductance: np.ndarray
    start: np.ndarray  # linear concentration profile, the initial guess


def _system(d: np.ndarray, mask: np.ndarray) -> _System:
    """Build the fine grid from ``d`` and ``mask`` and the levels below it.

    The fine face arrays, the largest temporaries, live only inside this function.
    """
    grid = _fine_grid(d, mask)
    length = mask.shape[0]
    first = np.zeros(mask.shape, dtype=bool)
    first[0] = True
    inlet_unknowns = np.flatnonzero(first[mask]).astype(np.int32)
    inlet_conductance = grid.inlet[mask[0]]
    layer = np.broadcast_to(np.arange(length, dtype=np.float64).reshape(-1, 1, 1), mask.shape)
    # A linear profile is exact for straight channels and a good start otherwise.
    start = 1.0 - (layer[mask] + 0.5) / length
    del first, layer

    levels: list[_Level] = []
    matrix, diag = _assemble(grid)
    while matrix.shape[0] > _COARSEST_SIZE:
        coarse, to_coarse = _coarsen(grid)
        n_coarse = int(np.count_nonzero(coarse.active))
        if n_coarse == matrix.shape[0]:
            break  # nothing left to aggregate (every axis has length 1)
        levels.append(_Level(matrix, _JACOBI_WEIGHT / diag, to_coarse, n_coarse))
        grid = coarse  # drops the finer grid's face arrays
        matrix, diag = _assemble(grid)
    levels.append(_Level(matrix, _JACOBI_WEIGHT / diag, None, 0))
    return _System(levels, splu(matrix.tocsc()), inlet_unknowns, inlet_conductance, start)


def _v_cycle(system: _System, residual: np.ndarray, depth: int = 0) -> np.ndarray:
    """Approximate ``A^-1 r`` by one symmetric V-cycle (a fixed linear operator)."""
    level = system.levels[depth]
    if level.to_coarse is None:
        return system.coarsest.solve(residual)
    a, w = level.matrix, level.smoother

    def smooth(z: np.ndarray) -> None:
        step = a @ z
        np.subtract(residual, step, out=step)
        step *= w
        z += step

    z = w * residual
    for _ in range(_SMOOTHING_STEPS - 1):
        smooth(z)
    left = a @ z
    np.subtract(residual, left, out=left)
    restricted = np.bincount(level.to_coarse, weights=left, minlength=level.n_coarse)
    del left
    correction = _v_cycle(system, restricted, depth + 1)
    correction *= _OVERCORRECTION
    z += correction[level.to_coarse]
    for _ in range(_SMOOTHING_STEPS):
        smooth(z)
    return z


def _solve(system: _System, rtol: float, maxiter: int) -> tuple[float, int, bool]:
    """Dissipation at unit concentration drop (= flux), iterations, convergence flag.

    The initial guess ``system.start`` is updated in place.
    """
    a = system.levels[0].matrix
    inlet, g_in = system.inlet_unknowns, system.inlet_conductance
    inlet_total = float(g_in.sum())

    def residual(x: np.ndarray) -> np.ndarray:
        r = a @ x
        np.negative(r, out=r)
        r[inlet] += g_in  # the right-hand side b is nonzero only on the inlet layer
        return r

    def dissipation(x: np.ndarray, r: np.ndarray) -> float:
        # W(x) = x.Ax - 2 b.x + sum(g_in) = sum(g_in) - x.(b + r) with r = b - Ax.
        return inlet_total - float(x[inlet] @ g_in) - float(x @ r)

    x = system.start
    r = residual(x)
    energy = dissipation(x, r)
    z = _v_cycle(system, r)
    rz = float(r @ z)
    p = z
    drops: list[float] = []
    converged = rz <= 0.0  # zero residual: the start is the solution
    iterations = 0
    while not converged and iterations < maxiter:
        iterations += 1
        q = a @ p
        alpha = rz / float(p @ q)
        q *= alpha
        r -= q
        np.multiply(p, alpha, out=q)  # reuse q's memory for alpha * p
        x += q
        del q
        # Each CG step lowers W by alpha r.z; the rest of the error decays about
        # geometrically, so the remainder is extrapolated from the last ratios.
        drops.append(alpha * rz)
        energy -= drops[-1]
        rate = _MAX_RATE
        if len(drops) >= 3:
            rate = min(max(drops[-1] / drops[-2], drops[-2] / drops[-3]), _MAX_RATE)
        if drops[-1] * rate / (1.0 - rate) <= rtol * energy:
            converged = True
            break
        z = _v_cycle(system, r)
        rz_new = float(r @ z)
        if rz_new <= 0.0:
            converged = True
            break
        p *= rz_new / rz
        p += z
        del z
        rz = rz_new
    # The recurrence drifts by rounding; evaluate W from the final field itself.
    del r, p
    return dissipation(x, residual(x)), iterations, converged
