"""Search spaces: layout, decode/encode round trip, prefixes and every error path."""

from __future__ import annotations

import json
import random

import pytest

from nasnet import known_genotypes
from nasnet.genotype import ALL_OPS, Block, Cell, Combine, Genotype, Op
from search_cifar.space import CategoricalSpace, NasnetCellSpace, from_signature


def random_point(space, rng, num_choices=None):
    return tuple(rng.randrange(n) for n in (num_choices or space.num_choices))


# -- CategoricalSpace ---------------------------------------------------------
def test_categorical_space_basics():
    space = CategoricalSpace((5, 4, 1))
    assert space.num_choices == (5, 4, 1)
    assert space.size() == 20
    assert not space.is_block_structured
    assert space.validate([4, 3, 0]) == (4, 3, 0)
    assert json.loads(json.dumps(space.signature())) == {"kind": "categorical",
                                                         "num_choices": [5, 4, 1]}
    assert space.key((1, 2, 0)) == "c:1,2,0"
    assert not hasattr(space, "decode")


@pytest.mark.parametrize("num_choices, message", [
    ((), "at least one decision"),
    ((3, 0), r"num_choices\[1\] must be an int >= 1, got 0"),
    ((3, 2.5), r"num_choices\[1\]"),
    ((True,), r"num_choices\[0\]"),
    (5, "must be a sequence"),
])
def test_categorical_space_errors(num_choices, message):
    with pytest.raises(ValueError, match=message):
        CategoricalSpace(num_choices)


@pytest.mark.parametrize("choices, message", [
    ((1, 2), "expected 3 choices, got 2"),
    ((1, 4, 0), "choice 1 is 4, out of range: decision 1 has 4 choices"),
    ((-1, 0, 0), "choice 0 is -1"),
    ((0, 1.0, 0), "choice 1 must be an int"),
    ("abc", "sequence of ints"),
])
def test_categorical_validate_errors(choices, message):
    with pytest.raises(ValueError, match=message):
        CategoricalSpace((5, 4, 1)).validate(choices)


# -- NasnetCellSpace ----------------------------------------------------------
def test_default_nasnet_space_layout():
    space = NasnetCellSpace()
    assert space.num_blocks == 5 and space.ops == ALL_OPS
    assert space.decisions_per_block == 8
    assert len(space.num_choices) == 40
    # Block k: (input_a, op_a, input_b, op_b) for normal, then for reduction.
    assert space.num_choices[:8] == (2, 13, 2, 13) * 2
    assert space.num_choices[32:] == (6, 13, 6, 13) * 2
    assert space.decision_names()[:5] == ["b0.normal.input_a", "b0.normal.op_a",
                                          "b0.normal.input_b", "b0.normal.op_b",
                                          "b0.reduction.input_a"]
    assert space.is_block_structured
    assert space.size() == (2 * 3 * 4 * 5 * 6) ** 4 * 13 ** 20


def test_search_combine_layout_and_decode():
    space = NasnetCellSpace(num_blocks=2, ops=("sep_conv_3x3", "identity"), search_combine=True)
    assert space.decisions_per_block == 10
    assert space.num_choices[:5] == (2, 2, 2, 2, 2)
    assert space.decision_kinds()[:5] == ["input", "op", "input", "op", "combine"]
    g = space.decode((0, 0, 1, 1, 1) * 2 + (2, 0, 0, 1, 0) * 2)
    assert g.normal.blocks[0] == Block(0, Op.SEP_CONV_3X3, 1, Op.IDENTITY, Combine.CONCAT)
    assert g.normal.blocks[1].combine is Combine.ADD
    assert space.encode(g) == (0, 0, 1, 1, 1) * 2 + (2, 0, 0, 1, 0) * 2


def test_decode_uses_the_unused_states_as_concat():
    space = NasnetCellSpace(num_blocks=3, ops=("sep_conv_3x3", "max_pool_3x3"))
    # normal: block1 reads block0 (state 2); block 2 reads states 0 and 1.
    blocks = [(0, 0, 1, 1), (2, 0, 0, 1), (0, 1, 1, 0)]
    red = [(1, 1, 1, 1), (1, 0, 0, 0), (3, 0, 2, 1)]
    choices = tuple(c for k in range(3) for cell in (blocks, red) for c in cell[k])
    g = space.decode(choices)
    assert g.normal.concat == (3, 4)
    assert g.reduction.concat == (4,)
    assert g.normal.blocks[1] == Block(2, Op.SEP_CONV_3X3, 0, Op.MAX_POOL_3X3)
    assert g.normal == Cell.with_unused_concat(g.normal.blocks)


def test_decode_encode_round_trip_on_random_points():
    rng = random.Random(0)
    for space in (NasnetCellSpace(), NasnetCellSpace(num_blocks=2, ops=("identity", "conv_3x3"),
                                                     search_combine=True)):
        for _ in range(50):
            choices = random_point(space, rng)
            g = space.decode(choices)
            assert space.encode(g) == choices
            assert Genotype.from_json(g.to_json()) == g


def test_prefixes_of_whole_blocks_decode_to_smaller_cells():
    space = NasnetCellSpace(num_blocks=3)
    rng = random.Random(1)
    choices = random_point(space, rng)
    for b in (1, 2, 3):
        prefix = choices[:b * space.decisions_per_block]
        assert space.validate(prefix) == prefix
        assert space.num_blocks_of(prefix) == b
        g = space.decode(prefix)
        assert g.normal.num_blocks == g.reduction.num_blocks == b
        assert space.encode(g) == prefix
        assert space.prefix_num_choices(b) == space.num_choices[:len(prefix)]


def test_known_genotypes_in_the_default_space_round_trip():
    """NASNet-A's cells concatenate a consumed state, so they are not in the space."""
    space = NasnetCellSpace()
    with pytest.raises(ValueError, match="not the unused block outputs"):
        space.encode(known_genotypes.get("nasnet_a"))
    g = known_genotypes.get("nasnet_a")
    inside = Genotype(normal=Cell.with_unused_concat(g.normal.blocks),
                      reduction=Cell.with_unused_concat(g.reduction.blocks))
    assert space.decode(space.encode(inside)) == inside


def test_key_is_the_fingerprint_and_ignores_branch_order():
    space = NasnetCellSpace(num_blocks=1, ops=("sep_conv_3x3", "identity"))
    a = space.key((0, 0, 1, 1, 0, 0, 0, 1))
    b = space.key((1, 1, 0, 0, 0, 1, 0, 0))
    assert a == b == space.decode((0, 0, 1, 1, 0, 0, 0, 1)).fingerprint()


@pytest.mark.parametrize("kwargs, message", [
    ({"num_blocks": 0}, "num_blocks must be an int >= 1, got 0"),
    ({"num_blocks": 2.0}, "num_blocks"),
    ({"ops": ()}, "at least one op"),
    ({"ops": ("sep_conv_3x3", "conv_9x9")}, "unknown op 'conv_9x9'"),
    ({"ops": ("identity", "identity")}, r"\['identity'\] more than once"),
    ({"ops": "identity"}, "sequence of op names"),
    ({"search_combine": 1}, "search_combine must be a bool"),
])
def test_nasnet_space_construction_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NasnetCellSpace(**kwargs)


@pytest.mark.parametrize("choices, message", [
    ((0,) * 7, "multiple of 8 choices"),
    ((0,) * 24, r"whole blocks, 1..2"),
    ((), "multiple of 8"),
    ((0, 13, 0, 0, 0, 0, 0, 0), "choice 1 is 13, out of range"),
    ((2, 0, 0, 0, 0, 0, 0, 0), "choice 0 is 2, out of range: decision 0 has 2 choices"),
    (None, "sequence of ints"),
])
def test_nasnet_validate_errors(choices, message):
    space = NasnetCellSpace(num_blocks=2)
    with pytest.raises(ValueError, match=message):
        space.validate(choices)
    with pytest.raises(ValueError, match=message):
        space.decode(choices)


def test_encode_errors():
    space = NasnetCellSpace(num_blocks=2, ops=("sep_conv_3x3", "identity"))
    cell = Cell.with_unused_concat([Block(0, Op.MAX_POOL_3X3, 1, Op.IDENTITY)])
    with pytest.raises(ValueError, match="uses op 'max_pool_3x3', not in this space"):
        space.encode(Genotype(normal=cell, reduction=cell))
    concat_cell = Cell.with_unused_concat([Block(0, Op.IDENTITY, 1, Op.IDENTITY, "concat")])
    with pytest.raises(ValueError, match="only has 'add'"):
        space.encode(Genotype(normal=concat_cell, reduction=concat_cell))
    one = Cell.with_unused_concat([Block(0, Op.IDENTITY, 1, Op.IDENTITY)])
    two = Cell.with_unused_concat([Block(0, Op.IDENTITY, 1, Op.IDENTITY)] * 2)
    with pytest.raises(ValueError, match="same number of blocks"):
        space.encode(Genotype(normal=one, reduction=two))
    with pytest.raises(ValueError, match="expected a Genotype"):
        space.encode((0, 1))
    with pytest.raises(ValueError, match="num_blocks must be in 1..2"):
        space.prefix_num_choices(3)


def test_signature_round_trip():
    for space in (CategoricalSpace((3, 2)), NasnetCellSpace(num_blocks=2, ops=("identity",),
                                                            search_combine=True)):
        again = from_signature(json.loads(json.dumps(space.signature())))
        assert again.signature() == space.signature()
        assert again.num_choices == space.num_choices
    assert NasnetCellSpace(ops=("identity", "conv_3x3")).signature() != \
        NasnetCellSpace(ops=("conv_3x3", "identity")).signature()
    with pytest.raises(ValueError, match="unknown space kind 'table'"):
        from_signature({"kind": "table"})
    with pytest.raises(ValueError, match="not a space signature"):
        from_signature([1, 2])
