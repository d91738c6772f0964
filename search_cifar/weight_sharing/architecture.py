"""A cell-space point as the integer array a supernet reads, and what a supernet can hold.

A supernet (``supernet.py``) holds ``num_blocks`` blocks and an op list; a
search space (``search_cifar.space.NasnetCellSpace``) decides, per block of
the normal and the reduction cell, two inputs and two ops. ``encode`` turns
the space's choices into one int32 array that enters the supernet's traced
step as a tensor, so that one trace serves every architecture:

    architecture[cell, block, :] = (input_a, op_a, input_b, op_b, active)

with ``cell`` 0 = normal, 1 = reduction; ``input_*`` hidden-state indices as
in ``nasnet.genotype`` (0 = previous cell, 1 = the one before, 2 + k = block
k); ``op_*`` indices into the *supernet's* op list (the space's own op order
may differ, and its op set may be a subset); ``active`` 1 for the blocks the
point has. A point with fewer blocks than the supernet (a smaller space, or a
progressive strategy's prefix of whole blocks) leaves the later blocks
inactive (all zeros): the supernet skips them in the output and nothing reads
them. Shape ``[2, num_blocks, 5]``.

``check_space`` refuses, with a one-line ValueError, a space the supernet
cannot evaluate: not a NASNet cell space, a searched combine op (the supernet
adds, as ENAS does), more blocks than the supernet, or an op it does not hold.

Example:
    >>> space = NasnetCellSpace(num_blocks=2, ops=("sep_conv_3x3", "identity"))
    >>> holds = SupernetOps(num_blocks=3, ops=("identity", "sep_conv_3x3", "max_pool_3x3"))
    >>> check_space(space, holds)
    >>> encode(space, holds, (0,) * 16).shape
    (2, 3, 5)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from nasnet.genotype import Genotype, Op
from search_cifar.space import NasnetCellSpace

CELL_TYPES = ("normal", "reduction")
#: Columns of ``architecture[cell, block]``.
INPUT_A, OP_A, INPUT_B, OP_B, ACTIVE = range(5)
NUM_COLUMNS = 5


@dataclasses.dataclass(frozen=True)
class SupernetOps:
    """What a supernet holds: ``num_blocks`` blocks per cell, each branch with every op of ``ops``."""

    num_blocks: int
    ops: tuple[str, ...]

    def __post_init__(self):
        if isinstance(self.num_blocks, bool) or not isinstance(self.num_blocks, int) \
                or self.num_blocks < 1:
            raise ValueError(f"supernet num_blocks must be an int >= 1, got {self.num_blocks!r}")
        if isinstance(self.ops, str) or not isinstance(self.ops, (list, tuple)) or not self.ops:
            raise ValueError(f"supernet ops must be a non-empty list of op names, got {self.ops!r}")
        ops = tuple(Op.parse(op).value for op in self.ops)
        duplicates = sorted({op for op in ops if ops.count(op) > 1})
        if duplicates:
            raise ValueError(f"supernet ops list {duplicates} more than once")
        object.__setattr__(self, "ops", ops)

    @property
    def op_values(self) -> tuple[Op, ...]:
        return tuple(Op(op) for op in self.ops)


def check_space(space: Any, holds: SupernetOps) -> None:
    """ValueError unless every point of ``space`` can run on a supernet holding ``holds``."""
    if not isinstance(space, NasnetCellSpace):
        raise ValueError(f"a supernet evaluates NASNet cell spaces, got {space!r}")
    if space.search_combine:
        raise ValueError("the supernet combines each block's branches by addition (as ENAS "
                         "does); a space with search_combine=True cannot run on it")
    if space.num_blocks > holds.num_blocks:
        raise ValueError(f"the space has {space.num_blocks} blocks per cell, more than the "
                         f"supernet's {holds.num_blocks}")
    missing = [op.value for op in space.ops if op.value not in holds.ops]
    if missing:
        raise ValueError(f"the space's op(s) {missing} are not held by the supernet, whose "
                         f"ops are {list(holds.ops)}")


def op_index_map(space: NasnetCellSpace, holds: SupernetOps) -> np.ndarray:
    """``[len(space.ops)]``: the supernet op index of each of the space's ops."""
    check_space(space, holds)
    return np.asarray([holds.ops.index(op.value) for op in space.ops], np.int32)


def encode(space: NasnetCellSpace, holds: SupernetOps, choices: Sequence[int]) -> np.ndarray:
    """The ``[2, num_blocks, 5]`` int32 architecture of a full or whole-block-prefix point."""
    op_map = op_index_map(space, holds)
    choices = space.validate(choices)
    blocks = space.num_blocks_of(choices)
    per_cell = space.decisions_per_cell_block
    out = np.zeros([2, holds.num_blocks, NUM_COLUMNS], np.int32)
    for k in range(blocks):
        for c in range(2):
            start = k * space.decisions_per_block + c * per_cell
            in_a, op_a, in_b, op_b = choices[start:start + 4]
            out[c, k] = (in_a, op_map[op_a], in_b, op_map[op_b], 1)
    return out


def encode_genotype(space: NasnetCellSpace, holds: SupernetOps, genotype: Genotype) -> np.ndarray:
    """``encode`` of ``space.encode(genotype)``; ValueError for a genotype outside the space."""
    return encode(space, holds, space.encode(genotype))


def unconsumed_mask(architecture: np.ndarray) -> np.ndarray:
    """``[2, num_blocks]`` bool: the block outputs a cell concatenates (active, unread).

    The numpy twin of the supernet's in-graph mask, for tests and reports; it
    equals ``Cell.with_unused_concat``'s concat (states ``2 + k``).
    """
    arch = np.asarray(architecture)
    num_blocks = arch.shape[1]
    out = np.zeros([2, num_blocks], bool)
    for c in range(2):
        active = arch[c, :, ACTIVE] > 0
        read = {int(arch[c, k, col]) for k in range(num_blocks) if active[k]
                for col in (INPUT_A, INPUT_B)}
        out[c] = [active[k] and (k + 2) not in read for k in range(num_blocks)]
    return out
