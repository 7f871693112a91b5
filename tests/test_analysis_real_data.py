"""The analysis metrics on a real XCT volume: NREL's calendered NMC cathode (shared data).

Run with ``-s`` to see the figures. To stay near a minute on two cores, tortuosity runs on the
whole volume but the pore network uses a central 160³-voxel crop and particle shapes a central
128³ crop (the watershed separation of the NMC phase is the slow part).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mesosweep.analysis.particle_shape import particle_shapes
from mesosweep.analysis.phases import AM
from mesosweep.analysis.pore_network import pore_network
from mesosweep.analysis.porosity import porosity
from mesosweep.analysis.tortuosity import tortuosity_factor

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nrel-nmc-1-cal-bridge.tif"
VOXEL_UM = 0.398  # isotropic voxel edge of the NREL volume


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    if not DATA.exists():
        pytest.skip(f"real XCT volume not found at {DATA} (shared data folder absent)")
    tifffile = pytest.importorskip("tifffile")
    image = tifffile.imread(DATA)
    assert image.shape == (251, 301, 301) and image.dtype == np.uint8
    return image


def _central(image: np.ndarray, size: int) -> np.ndarray:
    start = [(n - size) // 2 for n in image.shape]
    return image[tuple(slice(s, s + size) for s in start)]


def test_porosity_pore_plus_cbd(volume):
    # An interior crop: no electrode surface, so the region is the whole height.
    eps = porosity(volume, cbd_as="pore", height_vox=volume.shape[2])
    print(f"\nNREL porosity (pore + CBD) {eps:.4f}; pore only "
          f"{porosity(volume, cbd_as='solid', height_vox=volume.shape[2]):.4f}")
    assert eps == pytest.approx(0.501, abs=1e-3)


@pytest.mark.slow
def test_tortuosity_along_each_axis(volume):
    conducting = volume != AM
    taus = []
    for axis in range(3):
        result = tortuosity_factor(conducting, axis=axis, rtol=1e-4)
        print(f"\nNREL tau axis {axis}: {result.tau:.4f} ({result.iterations} iterations, "
              f"eps {result.volume_fraction:.4f})")
        assert result.percolating and np.isfinite(result.tau) and result.tau > 1.0
        taus.append(result.tau)
    assert max(taus) < 5.0


def test_pore_network_on_a_central_crop(volume):
    network = pore_network(_central(volume, 160) != AM, VOXEL_UM)
    large = network.large
    mean_radius = network.radius_um[large].mean()
    print(f"\nNREL pore network (160^3 crop): {network.radius_um.size} pores, {large.sum()} "
          f"above 1 um with mean radius {mean_radius:.2f} um and coordination "
          f"{network.coordination[large].mean():.2f}; {len(network.throat_area_um2)} throats, "
          f"median throat radius {np.median(network.throat_radius_um):.2f} um")
    assert large.sum() > 50
    assert 1.5 < mean_radius < 8.0  # the paper's XCT values are 2.2-3.8 um
    assert network.coordination[large].mean() > 1.0
    assert np.all(network.throat_area_um2 > 0)


def test_particle_shapes_on_a_central_crop(volume):
    # The particle database's watershed separation of the NMC phase.
    from mesosweep.analysis.separation import separate_particles

    labels = separate_particles(_central(volume, 128) == AM)
    faces = np.unique(np.concatenate([
        labels[0].ravel(), labels[-1].ravel(), labels[:, 0].ravel(), labels[:, -1].ravel(),
        labels[:, :, 0].ravel(), labels[:, :, -1].ravel(),
    ]))
    whole = np.where(np.isin(labels, faces), 0, labels)  # drop particles cut by the crop
    # Keep secondaries of at least 2 um volume-equivalent diameter (the PSD's lower end).
    counts = np.bincount(whole.ravel())
    whole[counts[whole] < np.pi / 6 * 2.0**3 / VOXEL_UM**3] = 0
    shapes = particle_shapes(whole, VOXEL_UM, periodic=(False, False, False))
    sph = shapes.sphericity
    print(f"\nNREL particles (128^3 crop): {sph.size} whole, sphericity median "
          f"{np.median(sph):.3f} (5-95 %: {np.quantile(sph, 0.05):.3f}-"
          f"{np.quantile(sph, 0.95):.3f}), mean orientation "
          f"{shapes.orientation_deg.mean():.1f} deg")
    assert sph.size >= 5
    assert np.all((sph > 0) & (sph <= 1))
    assert np.all((shapes.orientation_deg >= 0) & (shapes.orientation_deg <= 90))
