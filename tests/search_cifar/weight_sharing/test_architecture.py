"""Space points as supernet architectures, and the spaces a supernet refuses."""

from __future__ import annotations

import numpy as np
import pytest

from nasnet.genotype import Block, Cell, Genotype
from search_cifar.space import CategoricalSpace, NasnetCellSpace
from search_cifar.weight_sharing import architecture as arch_lib
from search_cifar.weight_sharing.architecture import SupernetOps

HOLDS = SupernetOps(num_blocks=3, ops=("identity", "sep_conv_3x3", "max_pool_3x3"))


def test_encode_maps_the_space_ops_to_the_supernet_ops_and_pads_blocks():
    space = NasnetCellSpace(num_blocks=2, ops=("max_pool_3x3", "identity"))
    normal = Cell.with_unused_concat([Block(0, "max_pool_3x3", 1, "identity"),
                                      Block(2, "identity", 0, "max_pool_3x3")])
    reduction = Cell.with_unused_concat([Block(1, "identity", 1, "identity"),
                                         Block(0, "max_pool_3x3", 1, "max_pool_3x3")])
    genotype = Genotype(normal=normal, reduction=reduction)
    arch = arch_lib.encode_genotype(space, HOLDS, genotype)
    assert arch.shape == (2, 3, 5) and arch.dtype == np.int32
    # max_pool is the supernet's op 2, identity its op 0; block 2 is inactive.
    np.testing.assert_array_equal(arch[0], [[0, 2, 1, 0, 1], [2, 0, 0, 2, 1], [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(arch[1], [[1, 0, 1, 0, 1], [0, 2, 1, 2, 1], [0, 0, 0, 0, 0]])
    mask = arch_lib.unconsumed_mask(arch)
    np.testing.assert_array_equal(mask, [[False, True, False], [True, True, False]])
    assert [2 + k for k in np.flatnonzero(mask[0])] == list(normal.concat)
    assert [2 + k for k in np.flatnonzero(mask[1])] == list(reduction.concat)


def test_unconsumed_mask_equals_the_space_concat_for_random_points():
    space = NasnetCellSpace(num_blocks=3, ops=("sep_conv_3x3", "identity"))
    rng = np.random.default_rng(0)
    for _ in range(50):
        choices = [int(rng.integers(n)) for n in space.num_choices]
        genotype = space.decode(choices)
        mask = arch_lib.unconsumed_mask(arch_lib.encode(space, HOLDS, choices))
        for c, cell in enumerate((genotype.normal, genotype.reduction)):
            assert [2 + k for k in np.flatnonzero(mask[c])] == list(cell.concat)


def test_a_prefix_of_whole_blocks_leaves_the_rest_inactive():
    space = NasnetCellSpace(num_blocks=3, ops=HOLDS.ops)
    arch = arch_lib.encode(space, HOLDS, (1, 1, 0, 2) * 2)
    assert arch[:, :, arch_lib.ACTIVE].tolist() == [[1, 0, 0], [1, 0, 0]]


@pytest.mark.parametrize("space, message", [
    (CategoricalSpace((3, 3)), "a supernet evaluates NASNet cell spaces"),
    (NasnetCellSpace(num_blocks=2, ops=("identity",), search_combine=True), "combines each block"),
    (NasnetCellSpace(num_blocks=4, ops=("identity",)), "4 blocks per cell, more than the supernet's 3"),
    (NasnetCellSpace(num_blocks=2, ops=("identity", "sep_conv_5x5", "avg_pool_3x3")),
     r"op\(s\) \['sep_conv_5x5', 'avg_pool_3x3'\] are not held by the supernet"),
])
def test_spaces_the_supernet_cannot_hold_are_refused(space, message):
    with pytest.raises(ValueError, match=message):
        arch_lib.check_space(space, HOLDS)
    if isinstance(space, NasnetCellSpace) and not space.search_combine:
        with pytest.raises(ValueError, match=message):
            arch_lib.encode(space, HOLDS, (0,) * len(space.num_choices))


def test_a_genotype_outside_the_space_is_refused():
    space = NasnetCellSpace(num_blocks=1, ops=("identity",))
    cell = Cell.with_unused_concat([Block(0, "sep_conv_3x3", 1, "identity")])
    with pytest.raises(ValueError, match="uses op 'sep_conv_3x3', not in this space's ops"):
        arch_lib.encode_genotype(space, HOLDS, Genotype(normal=cell, reduction=cell))


@pytest.mark.parametrize("kwargs, message", [
    ({"num_blocks": 0, "ops": ("identity",)}, "supernet num_blocks must be an int >= 1"),
    ({"num_blocks": True, "ops": ("identity",)}, "supernet num_blocks must be an int >= 1"),
    ({"num_blocks": 2, "ops": ()}, "supernet ops must be a non-empty list"),
    ({"num_blocks": 2, "ops": "identity"}, "supernet ops must be a non-empty list"),
    ({"num_blocks": 2, "ops": ("identity", "identity")}, r"supernet ops list \['identity'\] more than once"),
    ({"num_blocks": 2, "ops": ("sep_conv_9x9",)}, "unknown op 'sep_conv_9x9'"),
])
def test_bad_supernet_op_lists(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SupernetOps(**kwargs)
