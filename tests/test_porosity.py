"""Tests for analysis.porosity on analytic slab images."""

from __future__ import annotations

import numpy as np
import pytest

from mesosweep.analysis.phases import AM, CBD, PORE
from mesosweep.analysis.porosity import electrode_thickness, phase_profiles, porosity


def _slab(nz: int = 20, top: int = 12) -> np.ndarray:
    """10 x 10 columns, electrode in z < ``top`` with a fully AM top layer.

    Below the top layer: x even AM, x = 1 CBD, x = 3, 5, 7, 9 pore (40 % pore, 10 % CBD).
    """
    image = np.full((10, 10, nz), PORE, dtype=np.uint8)
    image[0::2, :, :top] = AM
    image[1, :, :top] = CBD
    image[..., top - 1] = AM
    return image


def test_thickness_of_flat_slab_is_top_face():
    assert electrode_thickness(_slab(top=12), 0.5) == pytest.approx(6.0)


def test_thickness_is_mean_over_columns():
    image = np.zeros((2, 2, 10), dtype=np.uint8)
    image[0, 0, :4] = AM  # top face at 4 voxels
    image[0, 1, 2] = CBD  # floating CBD voxel: top face at 3
    image[1, 0, 7] = AM  # overhang: top face at 8, the voids below do not matter
    # column (1, 1) is empty: thickness 0
    assert electrode_thickness(image, 2.0) == pytest.approx(2.0 * (4 + 3 + 8 + 0) / 4)


def test_porosity_of_slab_with_cbd_as_solid_or_pore():
    image = _slab(top=12)
    electrode = 10 * 10 * 12
    assert porosity(image) == pytest.approx(4 * 10 * 11 / electrode)
    assert porosity(image, cbd_as="pore") == pytest.approx(5 * 10 * 11 / electrode)
    # With the whole image as region, the pore above the surface counts too.
    assert porosity(image, height_vox=20) == pytest.approx((4 * 10 * 11 + 800) / 2000)


def test_porosity_weights_the_layer_cut_by_the_mean_surface():
    image = np.zeros((2, 1, 4), dtype=np.uint8)
    image[0, 0, :3] = AM  # column heights 3 and 2: mean thickness 2.5 voxels
    image[1, 0, :2] = AM
    # Layers 0, 1 fully solid; layer 2 half solid and counted with weight 0.5.
    assert porosity(image) == pytest.approx(0.5 * 1 / (2 * 2.5))


def test_bad_cbd_as_names_argument_and_choices():
    with pytest.raises(ValueError, match=r"cbd_as.*'solid'.*'pore'"):
        porosity(_slab(), cbd_as="half")


def test_empty_image_has_no_electrode_region():
    with pytest.raises(ValueError, match="no solid"):
        porosity(np.zeros((3, 3, 3), dtype=np.uint8))


def test_profile_of_layered_image():
    # 8 layers under air: 2 CBD, 2 AM, 2 half AM / half pore, 2 half AM / half CBD.
    image = np.zeros((4, 4, 12), dtype=np.uint8)
    image[..., 0:2] = CBD
    image[..., 2:4] = AM
    image[:2, :, 4:6] = AM
    image[:2, :, 6:8] = AM
    image[2:, :, 6:8] = CBD
    z, fractions = phase_profiles(image, bins=4)
    assert np.allclose(z, [0.125, 0.375, 0.625, 0.875])
    assert np.allclose(fractions[CBD], [1, 0, 0, 0.5])
    assert np.allclose(fractions[AM], [0, 1, 0.5, 0.5])
    assert np.allclose(fractions[PORE], [0, 0, 0.5, 0])


def test_profile_rebins_exactly_when_bins_do_not_match_layers():
    image = np.zeros((1, 1, 3), dtype=np.uint8)
    image[..., 0] = AM
    image[..., 2] = CBD  # thickness 3 voxels, pore in the middle layer
    _, fractions = phase_profiles(image, bins=2)
    # Bin 0 covers layer 0 and half of layer 1.
    assert np.allclose(fractions[:, 0], [1 / 3, 2 / 3, 0])
    assert np.allclose(fractions.sum(axis=0), 1)
    # Mean of the profile equals the bulk fractions.
    assert fractions[AM].mean() == pytest.approx(1 / 3)
