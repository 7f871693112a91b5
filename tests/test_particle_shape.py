"""Tests for analysis.particle_shape on voxelised ellipsoids of known axes and orientation."""

from __future__ import annotations

import numpy as np
import pytest

from mesosweep.analysis.particle_shape import (
    ellipsoid_semi_axes,
    krumbein_sphericity,
    particle_shapes,
    track_particles,
)


def _rotation_y(angle_deg: float) -> np.ndarray:
    """Rotation about y that turns the x axis towards z by ``angle_deg``."""
    t = np.radians(angle_deg)
    return np.array([[np.cos(t), 0, -np.sin(t)], [0, 1, 0], [np.sin(t), 0, np.cos(t)]])


def _ellipsoid(shape, centre, semi, rotation=None, label=1) -> np.ndarray:
    """Voxels whose centres lie in the ellipsoid; its axes are the columns of ``rotation``."""
    rotation = np.eye(3) if rotation is None else rotation
    grid = np.stack(np.indices(shape), axis=-1) + 0.5 - np.asarray(centre)
    local = grid @ rotation  # coordinates along the ellipsoid's own axes
    inside = ((local / np.asarray(semi)) ** 2).sum(axis=-1) <= 1.0
    return np.where(inside, label, 0).astype(np.int32)


SEMI = (12.0, 8.0, 5.0)  # voxels


def test_axis_aligned_ellipsoid_axes_sphericity_and_orientation():
    image = _ellipsoid((32, 24, 16), (16, 12, 8), SEMI)
    s = particle_shapes(image, 0.5)
    assert s.label.tolist() == [1]
    assert s.semi_axes_um[0] == pytest.approx(np.array(SEMI) * 0.5, abs=0.5 * 0.3)
    assert s.sphericity[0] == pytest.approx(np.cbrt(8 * 5 / 12**2), rel=0.02)
    assert s.orientation_deg[0] == pytest.approx(90.0, abs=0.5)  # major axis along x
    assert s.centroid_um[0] == pytest.approx([8.0, 6.0, 4.0], abs=0.05)
    assert s.voxels[0] == np.count_nonzero(image)


@pytest.mark.parametrize("tilt", [0.0, 30.0, 60.0])
def test_tilted_ellipsoid_orientation_to_the_through_plane_axis(tilt):
    image = _ellipsoid((40, 30, 40), (20, 15, 20), SEMI, _rotation_y(tilt))
    s = particle_shapes(image, 1.0)
    # The major axis leaves x and turns towards z: angle to z is 90 - tilt.
    assert s.orientation_deg[0] == pytest.approx(90.0 - tilt, abs=1.0)
    assert s.semi_axes_um[0] == pytest.approx(SEMI, abs=0.3)
    expected_axis = _rotation_y(tilt)[:, 0] * np.sign(_rotation_y(tilt)[2, 0] or 1.0)
    assert abs(s.major_axis[0] @ expected_axis) == pytest.approx(1.0, abs=1e-3)


def test_particle_wrapping_across_x_is_measured_whole():
    image = _ellipsoid((40, 30, 30), (20, 15, 15), SEMI, _rotation_y(30.0))
    whole = particle_shapes(image, 1.0)
    wrapped = np.roll(image, 25, axis=0)  # the particle now crosses x = 0
    assert wrapped[0].any() and wrapped[-1].any()
    s = particle_shapes(wrapped, 1.0)
    assert s.semi_axes_um[0] == pytest.approx(whole.semi_axes_um[0], abs=1e-9)
    assert s.orientation_deg[0] == pytest.approx(whole.orientation_deg[0], abs=1e-9)
    assert s.centroid_um[0, 0] == pytest.approx((whole.centroid_um[0, 0] + 25) % 40, abs=1e-9)
    # Without unwrapping the two halves look like one long particle.
    broken = particle_shapes(wrapped, 1.0, periodic=(False, False, False))
    assert broken.semi_axes_um[0, 0] > 1.5 * whole.semi_axes_um[0, 0]


def test_several_particles_at_once_and_sparse_ids():
    a = _ellipsoid((50, 30, 30), (12, 15, 15), SEMI, label=7)
    b = _ellipsoid((50, 30, 30), (37, 15, 15), (6.0, 6.0, 6.0), label=1000)
    s = particle_shapes(a + b, 1.0)
    assert s.label.tolist() == [7, 1000]
    assert s.sphericity[1] == pytest.approx(1.0, abs=0.02)
    assert s.sphericity[0] < 0.8
    assert s.semi_axes_um[0] == pytest.approx(ellipsoid_semi_axes(a > 0, 1.0))


def test_tracking_gives_deformation_and_rotation():
    shape, centre = (40, 30, 40), (20, 15, 20)
    before = particle_shapes(_ellipsoid(shape, centre, SEMI, _rotation_y(10.0), label=3), 1.0)
    squashed = (SEMI[0], SEMI[1], SEMI[2] * 0.8)
    after = particle_shapes(_ellipsoid(shape, centre, squashed, _rotation_y(30.0), label=3), 1.0)
    change = track_particles(before, after)
    assert change.label.tolist() == [3]
    assert change.rotation_deg[0] == pytest.approx(20.0, abs=1.0)
    assert change.deformation[0] == pytest.approx([0.0, 0.0, -0.2], abs=0.04)
    assert change.sphericity_change[0] < 0


def test_tracking_keeps_only_common_ids():
    a = particle_shapes(_ellipsoid((20, 20, 20), (10, 10, 10), (5, 4, 3), label=1), 1.0)
    b = particle_shapes(_ellipsoid((20, 20, 20), (10, 10, 10), (5, 4, 3), label=2), 1.0)
    change = track_particles(a, b)
    assert change.label.size == 0 and change.deformation.shape == (0, 3)


def test_sphericity_formula_and_input_checks():
    assert krumbein_sphericity(np.array([1.0, 1.0, 1.0])) == pytest.approx(1.0)
    assert krumbein_sphericity(np.array([[2.0, 1.0, 1.0]]))[0] == pytest.approx(0.25 ** (1 / 3))
    empty = particle_shapes(np.zeros((4, 4, 4), dtype=np.int32), 1.0)
    assert empty.label.size == 0 and empty.semi_axes_um.shape == (0, 3)
    with pytest.raises(ValueError, match="integer"):
        particle_shapes(np.zeros((4, 4, 4)), 1.0)
    with pytest.raises(ValueError, match="empty"):
        ellipsoid_semi_axes(np.zeros((3, 3, 3), dtype=bool), 1.0)
