"""Converters from other genotype conventions: the only code that knows them.

* slim lists (tensorflow/models research/slim/nets/nasnet/nasnet_utils.py,
  pnasnet.py; tensorflow/tpu models/official/amoeba_net/model_specs.py):
  ``operations`` (2 per block), ``hiddenstate_indices`` (2 per block, 0 = the
  previous cell, 1 = the one before) and ``used_hiddenstates`` (1 = leave out
  of the output concat). Op names like ``separable_5x5_2`` are parsed here and
  nowhere else.
* DARTS genotypes (quark0/darts ``cnn/genotypes.py``): ``[(op, input), ...]``
  with two pairs per node and a concat list. DARTS numbers the inputs the other
  way round (0 = the cell before the previous one), calls identity
  ``skip_connect`` and uses ``none`` for the zero op, which has no NASNet
  equivalent.

Example:
    >>> cell = from_slim(["separable_3x3_2", "none"], [0, 1], [1, 1, 0])
    >>> cell.concat
    (2,)
"""

from __future__ import annotations

from typing import Sequence

from nasnet.genotype import Block, Cell, Op

_SLIM_TO_OP = {
    "none": Op.IDENTITY,
    "separable_3x3_2": Op.SEP_CONV_3X3,
    "separable_5x5_2": Op.SEP_CONV_5X5,
    "separable_7x7_2": Op.SEP_CONV_7X7,
    "avg_pool_3x3": Op.AVG_POOL_3X3,
    "max_pool_3x3": Op.MAX_POOL_3X3,
    "max_pool_5x5": Op.MAX_POOL_5X5,
    "max_pool_7x7": Op.MAX_POOL_7X7,
    "1x1": Op.CONV_1X1,
    "3x3": Op.CONV_3X3,
    "1x3_3x1": Op.CONV_1X3_3X1,
    "1x7_7x1": Op.CONV_1X7_7X1,
    "dilated_3x3_rate_2": Op.DIL_CONV_3X3,
}
_OP_TO_SLIM = {op: name for name, op in _SLIM_TO_OP.items()}

_DARTS_TO_OP = {
    "skip_connect": Op.IDENTITY,
    "sep_conv_3x3": Op.SEP_CONV_3X3,
    "sep_conv_5x5": Op.SEP_CONV_5X5,
    "sep_conv_7x7": Op.SEP_CONV_7X7,
    "avg_pool_3x3": Op.AVG_POOL_3X3,
    "max_pool_3x3": Op.MAX_POOL_3X3,
    "conv_7x1_1x7": Op.CONV_1X7_7X1,
    "dil_conv_3x3": Op.DIL_CONV_3X3,
}


def from_slim(operations: Sequence[str], hiddenstate_indices: Sequence[int],
              used_hiddenstates: Sequence[int]) -> Cell:
    """Builds a Cell from the three slim lists (see the module docstring)."""
    if len(operations) != len(hiddenstate_indices):
        raise ValueError(
            f"operations has {len(operations)} entries but hiddenstate_indices has "
            f"{len(hiddenstate_indices)}; they must match")
    if len(operations) % 2 or not operations:
        raise ValueError(f"operations must hold 2 entries per block, got {len(operations)}")
    num_blocks = len(operations) // 2
    if len(used_hiddenstates) != num_blocks + 2:
        raise ValueError(
            f"used_hiddenstates must have {num_blocks + 2} entries (2 inputs + "
            f"{num_blocks} blocks), got {len(used_hiddenstates)}")
    ops = []
    for name in operations:
        if name not in _SLIM_TO_OP:
            raise ValueError(f"unknown slim operation {name!r}; known: {sorted(_SLIM_TO_OP)}")
        ops.append(_SLIM_TO_OP[name])
    blocks = tuple(
        Block(hiddenstate_indices[2 * k], ops[2 * k], hiddenstate_indices[2 * k + 1], ops[2 * k + 1])
        for k in range(num_blocks))
    concat = tuple(i for i, used in enumerate(used_hiddenstates) if not used)
    return Cell(blocks=blocks, concat=concat)


def to_slim(cell: Cell) -> tuple[list[str], list[int], list[int]]:
    """The inverse of ``from_slim`` for add-combined cells."""
    operations, indices = [], []
    for k, block in enumerate(cell.blocks):
        if block.combine.value != "add":
            raise ValueError(f"block {k} combines by {block.combine.value!r}; slim cells only add")
        for index, op in zip(block.inputs, block.ops):
            indices.append(index)
            operations.append(_OP_TO_SLIM[op])
    used = [0 if s in cell.concat else 1 for s in range(cell.num_states)]
    return operations, indices, used


def from_darts(pairs: Sequence[tuple[str, int]], concat: Sequence[int]) -> Cell:
    """Builds a Cell from a DARTS ``(op, input)`` list and its concat list.

    DARTS input 0 is the cell before the previous one and 1 the previous cell;
    they are swapped into the slim convention here. Note DARTS's
    ``dil_conv_3x3`` is a dilated *separable* conv, while our DIL_CONV_3X3 is a
    plain dilated conv: the topology is kept, the op's weights differ.
    """
    if len(pairs) % 2 or not pairs:
        raise ValueError(f"a DARTS cell has 2 (op, input) pairs per node, got {len(pairs)}")
    swap = {0: 1, 1: 0}
    converted = []
    for op_name, index in pairs:
        if op_name == "none":
            raise ValueError("DARTS op 'none' is the zero op, which a NASNet cell cannot express")
        if op_name not in _DARTS_TO_OP:
            raise ValueError(f"unknown DARTS op {op_name!r}; known: {sorted(_DARTS_TO_OP)}")
        converted.append((_DARTS_TO_OP[op_name], swap.get(index, index)))
    blocks = tuple(
        Block(converted[2 * k][1], converted[2 * k][0], converted[2 * k + 1][1], converted[2 * k + 1][0])
        for k in range(len(converted) // 2))
    concat = tuple(sorted(swap.get(i, i) for i in concat))
    return Cell(blocks=blocks, concat=concat)
