"""Tests for analysis.voxelise: geometry, periodicity, phase rules and gap closing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mesosweep.analysis.phases import AM, CBD, PORE
from mesosweep.analysis.voxelise import close_particle_gaps, n_voxels, voxelise


def _one_bead(centre, diameter, box, voxel, phase=AM, particle=1, **kw):
    return voxelise(
        np.array([centre], dtype=float),
        np.array([diameter], dtype=float),
        np.array([phase]),
        np.array([particle]),
        np.array(box, dtype=float),
        voxel,
        **kw,
    )


def test_shape_uses_ceil_without_float_noise():
    assert n_voxels(45.0, 0.2) == 225  # 45 / 0.2 = 225.00000000000003 in floating point
    assert n_voxels(45.1, 0.2) == 226
    phase, particle = _one_bead([1, 1, 1], 1.0, [3.0, 2.9, 4.0], 0.5, height_um=2.2)
    assert phase.shape == particle.shape == (6, 6, 5)
    assert phase.dtype == np.uint8 and particle.dtype == np.int32


def test_sphere_volume_matches_analytic_at_ten_voxels_per_radius():
    radius, voxel = 2.0, 0.2  # 10 voxels per radius
    phase, _ = _one_bead([3.03, 2.91, 3.07], 2 * radius, [6, 6, 6], voxel)
    volume = np.count_nonzero(phase == AM) * voxel**3
    assert volume == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.02)


def test_voxel_belongs_to_bead_when_its_centre_is_inside():
    # Bead centred on a voxel centre, radius exactly one voxel: the centre voxel and its
    # six face neighbours (at distance 1) are inside, edge neighbours (sqrt 2) are not.
    phase, _ = _one_bead([2.5, 2.5, 2.5], 2.0, [5, 5, 5], 1.0)
    assert np.count_nonzero(phase) == 7
    assert phase[2, 2, 2] == AM and phase[1, 2, 2] == AM and phase[1, 1, 2] == PORE


def test_bead_crossing_x_and_y_boundary_paints_both_sides():
    phase, _ = _one_bead([0.1, 9.9, 5.0], 2.0, [10, 10, 10], 0.5)
    xs, ys, _ = np.nonzero(phase)
    assert {0, 19} <= set(xs) and {0, 19} <= set(ys)
    # Same volume as the same bead in the middle of the box.
    middle, _ = _one_bead([5.1, 4.9, 5.0], 2.0, [10, 10, 10], 0.5)
    assert np.count_nonzero(phase) == np.count_nonzero(middle)


def test_z_is_not_periodic_and_clipped_at_height():
    phase, _ = _one_bead([5, 5, 0.2], 2.0, [10, 10, 10], 0.5)
    assert phase[..., -1].sum() == 0  # nothing wraps to the top
    full = np.count_nonzero(_one_bead([5, 5, 5], 2.0, [10, 10, 10], 0.5)[0])
    assert 0 < np.count_nonzero(phase) < full
    clipped, _ = _one_bead([5, 5, 5], 2.0, [10, 10, 10], 0.5, height_um=5.0)
    assert clipped.shape[2] == 10 and np.count_nonzero(clipped) == full // 2


def test_phases_and_particle_labels_land_right():
    position = np.array([[2.0, 2.0, 2.0], [6.0, 6.0, 2.0], [2.0, 6.0, 6.0]])
    phase, particle = voxelise(
        position, np.full(3, 2.0), np.array([AM, AM, CBD]), np.array([7, 3, 0]),
        np.array([8.0, 8.0, 8.0]), 0.5,
    )
    assert phase[4, 4, 4] == AM and particle[4, 4, 4] == 7
    assert phase[12, 12, 4] == AM and particle[12, 12, 4] == 3
    assert phase[4, 12, 12] == CBD and particle[4, 12, 12] == 0
    assert phase[12, 4, 12] == PORE
    assert np.all(particle[phase != AM] == 0) and np.all(particle[phase == AM] > 0)


def test_am_wins_over_cbd_where_they_overlap():
    position = np.array([[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]])
    for order in ([0, 1], [1, 0]):  # independent of input order
        phase, particle = voxelise(
            position[order], np.array([2.0, 3.0])[order], np.array([AM, CBD])[order],
            np.array([5, 0])[order], np.array([8.0, 8.0, 8.0]), 0.25,
        )
        assert phase[16, 16, 16] == AM and particle[16, 16, 16] == 5
        assert np.count_nonzero(phase == CBD) > 0  # the CBD shell outside the AM remains


def test_overlapping_secondaries_split_by_nearest_centre():
    position = np.array([[3.0, 4.0, 4.0], [5.0, 4.0, 4.0]])
    phase, particle = voxelise(
        position, np.array([4.0, 4.0]), np.array([AM, AM]), np.array([1, 2]),
        np.array([8.0, 8.0, 8.0]), 0.25,
    )
    x_centre = (np.arange(32) + 0.5) * 0.25
    row = particle[:, 16, 16]
    assert np.all(row[(x_centre < 4.0) & (phase[:, 16, 16] == AM)] == 1)
    assert np.all(row[(x_centre > 4.0) & (phase[:, 16, 16] == AM)] == 2)


def test_no_beads_gives_empty_image():
    phase, particle = voxelise(
        np.zeros((0, 3)), np.zeros(0), np.zeros(0, int), np.zeros(0, int), [2, 2, 2], 0.5
    )
    assert phase.shape == (4, 4, 4) and not phase.any() and not particle.any()


def test_invalid_beads_raise():
    with pytest.raises(ValueError, match="secondary-particle id"):
        _one_bead([1, 1, 1], 1.0, [2, 2, 2], 0.5, particle=0)
    with pytest.raises(ValueError, match="phase"):
        _one_bead([1, 1, 1], 1.0, [2, 2, 2], 0.5, phase=PORE)


def _two_beads_with_gap(label_b: int = 1):
    """Two beads of radius 8.5 voxels (0.2 µm voxels) along x, one pore voxel between them.

    Centres sit on voxel centres x = 14 and x = 32, so the flat pole caps lie at x = 22
    and x = 24 and the layer x = 23 between them is pore.
    """
    voxel = 0.2
    centres = (np.array([[14, 24, 24], [32, 24, 24]]) + 0.5) * voxel
    return voxelise(
        centres, np.full(2, 17 * voxel), np.array([AM, AM]), np.array([1, label_b]),
        np.full(3, 48 * voxel), voxel,
    )


def test_closing_bridges_a_one_voxel_gap_within_the_am_bound():
    phase, particle = _two_beads_with_gap()
    assert ndimage.label(particle == 1)[1] == 2
    closed_phase, closed_particle = close_particle_gaps(phase, particle)
    assert ndimage.label(closed_particle == 1)[1] == 1
    am_before = np.count_nonzero(phase == AM)
    added = np.count_nonzero(closed_phase == AM) - am_before
    assert 0 < added <= 0.005 * am_before
    # Only pore voxels change, they become AM of that particle, and inputs are untouched.
    changed = closed_phase != phase
    assert np.all(phase[changed] == PORE) and np.all(closed_particle[changed] == 1)
    assert np.count_nonzero(phase == AM) == am_before


def test_closing_respects_a_zero_budget_and_leaves_cbd_alone():
    phase, particle = _two_beads_with_gap()
    unchanged, _ = close_particle_gaps(phase, particle, max_am_change=0.0)
    assert np.array_equal(unchanged, phase)
    phase[phase == PORE] = CBD  # no pore left to close into
    closed, _ = close_particle_gaps(phase, particle, max_am_change=1.0)
    assert np.array_equal(closed, phase)


def test_closing_does_not_merge_two_different_particles():
    phase, particle = _two_beads_with_gap(label_b=2)
    closed_phase, _ = close_particle_gaps(phase, particle, max_am_change=1.0)
    assert np.array_equal(closed_phase, phase)  # both spheres are convex: nothing to close


def test_closing_works_across_the_periodic_x_boundary():
    phase, particle = _two_beads_with_gap()
    shift = -23  # put the gap at x = 0
    phase, particle = np.roll(phase, shift, axis=0), np.roll(particle, shift, axis=0)
    assert phase[0, 24, 24] == PORE and phase[1, 24, 24] == AM and phase[-1, 24, 24] == AM
    _, closed_particle = close_particle_gaps(phase, particle)
    assert closed_particle[0, 24, 24] == 1


def test_closing_spends_a_tight_budget_on_bridging_voxels():
    phase, particle = _two_beads_with_gap()
    am_before = np.count_nonzero(phase == AM)  # 5106 voxels: a 0.04 % budget is 2 voxels
    closed_phase, closed_particle = close_particle_gaps(phase, particle, max_am_change=4e-4)
    assert np.count_nonzero(closed_phase == AM) - am_before == 2
    assert ndimage.label(closed_particle == 1)[1] == 1


def test_closing_bound_can_refer_to_the_bead_volume():
    phase, particle = _two_beads_with_gap()
    am_before = np.count_nonzero(phase == AM)
    # Already 1 % above the reference: no room left under a 0.5 % bound.
    closed, _ = close_particle_gaps(phase, particle, reference_am_voxels=am_before / 1.01)
    assert np.array_equal(closed, phase)


def test_bead_volume_reference_bounds_the_closing():
    from mesosweep.analysis.voxelise import bead_volume_voxels

    assert bead_volume_voxels([2.0], 0.5) == pytest.approx(4 / 3 * np.pi * 8)  # r = 2 voxels
    phase, particle = _two_beads_with_gap()
    reference = bead_volume_voxels(np.full(2, 17 * 0.2), 0.2)  # the two beads of the fixture
    am_before = np.count_nonzero(phase == AM)
    assert am_before < reference  # voxel centres miss part of each sphere
    closed, closed_particle = close_particle_gaps(phase, particle, reference_am_voxels=reference)
    am_after = np.count_nonzero(closed == AM)
    assert am_before < am_after <= 1.005 * reference
    assert ndimage.label(closed_particle == 1)[1] == 1
    with pytest.raises(ValueError, match="voxel_size_um"):
        bead_volume_voxels([1.0], 0.0)
