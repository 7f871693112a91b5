"""Integer phase labels shared by every voxel image in mesosweep.

A phase image is a ``uint8`` array whose values are these labels. XCT images that cannot
separate carbon-binder domain from pores use only ``PORE`` and ``AM``.
"""

from __future__ import annotations

__all__ = ["PORE", "AM", "CBD"]

#: Pore space (electrolyte after infiltration).
PORE: int = 0
#: Active material (NMC secondary particles made of primary beads).
AM: int = 1
#: Carbon-binder domain (carbon black + binder, nanoporous in reality).
CBD: int = 2
