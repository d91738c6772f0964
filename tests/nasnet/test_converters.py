"""Converters from slim lists and DARTS genotypes (golden tests against the slim reference lists)."""

import pytest

from nasnet import converters, known_genotypes
from nasnet.genotype import Block, Cell, Op

S3, S5, S7 = Op.SEP_CONV_3X3, Op.SEP_CONV_5X5, Op.SEP_CONV_7X7
AVG, MAX, ID = Op.AVG_POOL_3X3, Op.MAX_POOL_3X3, Op.IDENTITY


def test_nasnet_a_normal_golden():
    # Zoph et al. 2018 Fig. 4 / slim NasNetANormalCell.
    expected = Cell(blocks=(Block(0, S5, 1, S3), Block(1, S5, 1, S3), Block(0, AVG, 1, ID),
                            Block(1, AVG, 1, AVG), Block(0, S3, 0, ID)),
                    concat=(1, 2, 3, 4, 5, 6))
    assert known_genotypes.NASNET_A.normal == expected


def test_nasnet_a_reduction_golden():
    expected = Cell(blocks=(Block(0, S5, 1, S7), Block(0, MAX, 1, S7), Block(0, AVG, 1, S5),
                            Block(3, ID, 2, AVG), Block(2, S3, 0, MAX)),
                    concat=(3, 4, 5, 6))
    assert known_genotypes.NASNET_A.reduction == expected


def test_pnasnet_5_golden():
    cell = known_genotypes.PNASNET_5.normal
    assert cell.blocks[0] == Block(1, S5, 1, MAX)
    assert cell.blocks[3] == Block(4, S3, 0, MAX)
    assert cell.concat == (2, 3, 4, 5, 6)


def test_amoebanet_a_golden():
    g = known_genotypes.AMOEBANET_A
    assert g.normal.blocks[4] == Block(5, AVG, 0, S3)
    assert g.normal.concat == (1, 3, 4, 6)
    assert g.reduction.blocks[3] == Block(4, S3, 0, Op.CONV_1X7_7X1)
    assert g.reduction.blocks[4] == Block(1, AVG, 0, S7)


@pytest.mark.parametrize("genotype", list(known_genotypes.KNOWN.values()), ids=lambda g: g.name)
def test_slim_round_trip(genotype):
    for cell in (genotype.normal, genotype.reduction):
        assert converters.from_slim(*converters.to_slim(cell)) == cell


def test_from_slim_errors():
    with pytest.raises(ValueError, match="operations has 2 entries but hiddenstate_indices has 1"):
        converters.from_slim(["none", "none"], [0], [1, 1, 0])
    with pytest.raises(ValueError, match="2 entries per block, got 3"):
        converters.from_slim(["none"] * 3, [0] * 3, [1, 1, 0])
    with pytest.raises(ValueError, match="used_hiddenstates must have 3 entries"):
        converters.from_slim(["none", "none"], [0, 1], [1, 1])
    with pytest.raises(ValueError, match="unknown slim operation 'separable_9x9_2'"):
        converters.from_slim(["separable_9x9_2", "none"], [0, 1], [1, 1, 0])


def test_to_slim_rejects_concat_blocks():
    cell = Cell(blocks=(Block(0, ID, 1, ID, "concat"),), concat=(2,))
    with pytest.raises(ValueError, match="block 0 combines by 'concat'"):
        converters.to_slim(cell)


def test_from_darts_swaps_the_input_convention():
    # DARTS input 1 = previous cell = our state 0; skip_connect = identity.
    cell = converters.from_darts([("sep_conv_3x3", 1), ("skip_connect", 0)], concat=[2])
    assert cell == Cell(blocks=(Block(0, S3, 1, ID),), concat=(2,))


def test_from_darts_errors():
    with pytest.raises(ValueError, match="zero op"):
        converters.from_darts([("none", 0), ("skip_connect", 1)], [2])
    with pytest.raises(ValueError, match="unknown DARTS op 'conv_5x5'"):
        converters.from_darts([("conv_5x5", 0), ("skip_connect", 1)], [2])
    with pytest.raises(ValueError, match="2 \\(op, input\\) pairs per node, got 1"):
        converters.from_darts([("skip_connect", 1)], [2])


def test_known_genotypes_lookup():
    assert known_genotypes.get("pnasnet_5") is known_genotypes.PNASNET_5
    with pytest.raises(ValueError, match="unknown published genotype 'nasnet_b'"):
        known_genotypes.get("nasnet_b")
