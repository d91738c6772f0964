"""Published cells as data, each from its reference source.

* NASNET_A: Zoph et al. 2018, Fig. 4; lists from tensorflow/models
  research/slim/nets/nasnet/nasnet_utils.py (NasNetANormalCell,
  NasNetAReductionCell). Normal concat: s1, b0..b4; reduction: b1..b4.
* PNASNET_5: Liu et al. 2018, Fig. 1; lists from research/slim/nets/nasnet/
  pnasnet.py (PNasNetNormalCell). PNASNet uses one cell type; at reduction
  positions it is applied with stride 2, so ``reduction == normal``.
* AMOEBANET_A: Real et al. 2019, Fig. 4; lists from tensorflow/tpu
  models/official/amoeba_net/model_specs.py (``amoeba_net_a``).

Each cell is published inside its own network skeleton (``SKELETON_OF``,
``nasnet.skeletons``): NASNet-A's and AmoebaNet-A's insert reduction cells,
PNASNet-5's strides its one cell at the reduction positions.

Example:
    >>> from nasnet import known_genotypes
    >>> known_genotypes.get("nasnet_a").normal.concat
    (1, 2, 3, 4, 5, 6)
"""

from __future__ import annotations

from nasnet.converters import from_slim
from nasnet.genotype import Genotype

NASNET_A = Genotype(
    name="nasnet_a",
    normal=from_slim(
        ["separable_5x5_2", "separable_3x3_2", "separable_5x5_2", "separable_3x3_2",
         "avg_pool_3x3", "none", "avg_pool_3x3", "avg_pool_3x3", "separable_3x3_2", "none"],
        [0, 1, 1, 1, 0, 1, 1, 1, 0, 0],
        [1, 0, 0, 0, 0, 0, 0]),
    reduction=from_slim(
        ["separable_5x5_2", "separable_7x7_2", "max_pool_3x3", "separable_7x7_2",
         "avg_pool_3x3", "separable_5x5_2", "none", "avg_pool_3x3", "separable_3x3_2",
         "max_pool_3x3"],
        [0, 1, 0, 1, 0, 1, 3, 2, 2, 0],
        [1, 1, 1, 0, 0, 0, 0]),
)

_PNASNET_5_CELL = from_slim(
    ["separable_5x5_2", "max_pool_3x3", "separable_7x7_2", "max_pool_3x3",
     "separable_5x5_2", "separable_3x3_2", "separable_3x3_2", "max_pool_3x3",
     "separable_3x3_2", "none"],
    [1, 1, 0, 0, 0, 0, 4, 0, 1, 0],
    [1, 1, 0, 0, 0, 0, 0])
PNASNET_5 = Genotype(name="pnasnet_5", normal=_PNASNET_5_CELL, reduction=_PNASNET_5_CELL)

AMOEBANET_A = Genotype(
    name="amoebanet_a",
    normal=from_slim(
        ["avg_pool_3x3", "max_pool_3x3", "separable_3x3_2", "none", "none",
         "avg_pool_3x3", "separable_3x3_2", "separable_5x5_2", "avg_pool_3x3",
         "separable_3x3_2"],
        [0, 0, 1, 1, 0, 1, 0, 2, 5, 0],
        [1, 0, 1, 0, 0, 1, 0]),
    reduction=from_slim(
        ["separable_3x3_2", "avg_pool_3x3", "max_pool_3x3", "separable_7x7_2",
         "max_pool_3x3", "max_pool_3x3", "separable_3x3_2", "1x7_7x1", "avg_pool_3x3",
         "separable_7x7_2"],
        [1, 0, 0, 2, 1, 0, 4, 0, 1, 0],
        [1, 1, 0, 0, 0, 0, 0]),
)

KNOWN: dict[str, Genotype] = {g.name: g for g in (NASNET_A, PNASNET_5, AMOEBANET_A)}

#: The network skeleton each published cell was published in (``nasnet.skeletons``).
SKELETON_OF: dict[str, str] = {"nasnet_a": "nasnet", "pnasnet_5": "pnasnet",
                               "amoebanet_a": "amoebanet"}


def get(name: str) -> Genotype:
    """Returns the published genotype called ``name``."""
    if name not in KNOWN:
        raise ValueError(f"unknown published genotype {name!r}; known: {sorted(KNOWN)}")
    return KNOWN[name]
