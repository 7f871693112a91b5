"""Tests for analysis.pore_network on constructed pore spaces."""

from __future__ import annotations

import numpy as np
import pytest

from mesosweep.analysis.pore_network import pore_network, pore_regions


def _ball(shape, centre, radius):
    grid = np.indices(shape) + 0.5
    return sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= radius**2


def _rod(shape, start, stop, radius, axis):
    """Cylinder of ``radius`` along ``axis`` between voxel indices ``start`` and ``stop``."""
    grid = np.indices(shape) + 0.5
    other = [a for a in range(3) if a != axis]
    inside = sum((grid[a] - start[a]) ** 2 for a in other) <= radius**2
    return inside & (grid[axis] >= start[axis]) & (grid[axis] <= stop[axis])


def test_two_spheres_joined_by_a_cylinder():
    shape, r_sphere, r_rod = (52, 28, 28), 9.0, 4.0
    c1, c2 = (13.0, 14.0, 14.0), (39.0, 14.0, 14.0)
    rod = _rod(shape, c1, c2, r_rod, axis=0)
    pore = _ball(shape, c1, r_sphere) | _ball(shape, c2, r_sphere) | rod
    net = pore_network(pore, 0.5)
    assert net.radius_um.size == 2 and net.throat_pores.tolist() == [[0, 1]]
    assert net.coordination.tolist() == [1, 1]
    # The throat is the rod's cross-section: pi r^2, within the voxelised disc's count.
    disc = np.count_nonzero(rod[26]) * 0.25
    assert net.throat_area_um2[0] == pytest.approx(disc, rel=0.1)
    assert net.throat_radius_um[0] == pytest.approx(r_rod * 0.5, rel=0.1)
    # Each pore holds one sphere and half the rod, split by symmetry.
    assert net.volume_um3.sum() == pytest.approx(np.count_nonzero(pore) * 0.125)
    assert net.volume_um3[0] == pytest.approx(net.volume_um3[1], rel=0.02)
    assert net.radius_um == pytest.approx(np.cbrt(3 * net.volume_um3 / (4 * np.pi)))
    assert net.large.all()  # both above 1 um


def test_cubic_lattice_has_the_coordination_of_its_sites():
    # 3 x 3 x 3 spheres on a 16-voxel lattice, neighbours joined by rods along the axes:
    # corners have 3 neighbours, edges 4, faces 5, the centre 6.
    step, n = 16, 3
    shape = (step * n,) * 3
    pore = np.zeros(shape, dtype=bool)
    sites = [(i, j, k) for i in range(n) for j in range(n) for k in range(n)]
    centre = {s: tuple(step * c + step / 2 for c in s) for s in sites}
    for s in sites:
        pore |= _ball(shape, centre[s], 5.0)
        for ax in range(3):
            if s[ax] + 1 < n:
                t = list(s)
                t[ax] += 1
                pore |= _rod(shape, centre[s], centre[tuple(t)], 2.5, axis=ax)
    net = pore_network(pore, 1.0)
    assert net.radius_um.size == 27 and net.throat_pores.shape == (54, 2)
    # Identify each pore by the site its centroid-free position falls in.
    expected = []
    for pore_id in range(1, 28):
        idx = np.argwhere(net.regions == pore_id).mean(axis=0) // step
        expected.append(sum(1 + (0 < c < n - 1) for c in idx.astype(int)))
    assert net.coordination.tolist() == expected
    assert sorted(set(expected)) == [3, 4, 5, 6]


def test_oblique_flat_interface_area_is_exact():
    # Two given regions split by the plane x + y = const: area = sqrt(2) * nz * (span).
    shape = (30, 30, 10)
    i, j, _ = np.indices(shape)
    regions = np.where(i + j < 30, 1, 2).astype(np.int32)
    net = pore_network(np.ones(shape, bool), 1.0, regions=regions)
    # The staircase has 2 x 29 x 10 faces; the flat plane's area is 29 sqrt(2) x 10.
    assert net.throat_area_um2[0] == pytest.approx(29 * np.sqrt(2) * 10, rel=0.03)


def test_positions_along_the_thickness():
    shape = (20, 20, 40)
    pore = _ball(shape, (10, 10, 10), 6) | _ball(shape, (10, 10, 30), 6)
    net = pore_network(pore, 0.5, height_um=20.0)
    order = np.argsort(net.position_um)
    assert net.position_um[order] == pytest.approx([5.0, 15.0], abs=0.05)
    assert net.position_norm[order] == pytest.approx([0.25, 0.75], abs=0.01)
    assert net.throat_pores.shape == (0, 2) and net.coordination.tolist() == [0, 0]


def test_threshold_and_empty_pore_space():
    shape = (30, 16, 16)
    pore = _ball(shape, (8, 8, 8), 6) | _ball(shape, (24, 8, 8), 1.5)
    net = pore_network(pore, 0.25, radius_threshold_um=1.0)
    assert net.large.tolist() == [True, False]  # radii 1.5 um and ~0.4 um
    empty = pore_network(np.zeros((5, 5, 5), bool), 1.0)
    assert empty.radius_um.size == 0 and empty.throat_pores.shape == (0, 2)
    assert not pore_regions(np.zeros((5, 5, 5), bool)).any()
