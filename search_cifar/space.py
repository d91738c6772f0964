"""Search spaces: a sequence of categorical decisions, optionally decoded to a Genotype.

A space is what a strategy searches over. Strategies only see ``num_choices``
(decision ``i`` takes a value in ``range(num_choices[i])``), ``signature()``
(a JSON value that identifies the space, stored in every strategy state) and
``is_block_structured`` (whether a prefix of whole blocks is itself a valid,
smaller point, which the progressive strategy needs).

Two spaces:

* ``CategoricalSpace(num_choices=(5, 5, 5))``: plain decisions, no decoding.
  Any table or function over categorical decisions can be searched with it
  (tests, benchmarks, NAS-Bench-style tables).
* ``NasnetCellSpace(num_blocks=5, ops=ALL_OPS, search_combine=False)``: the
  NASNet cell space of Zoph et al. 2018 (Sec. 3): a normal and a reduction cell
  of B blocks; per block two inputs among the hidden states available to it,
  two ops from the op set and, optionally, the combine op (add or concat).
  ``decode(choices) -> Genotype``; the cell output concatenates the unused
  block outputs (``Cell.with_unused_concat``).

Decision layout of ``NasnetCellSpace`` (interleaved BY BLOCK, so that a prefix
of whole blocks decodes to a smaller cell, which is how PNAS grows cells)::

    for k in range(B):                    # block k
        for cell in (normal, reduction):
            input_a  (k + 2 choices: states 0 .. k + 1)
            op_a     (len(ops) choices)
            input_b  (k + 2 choices)
            op_b     (len(ops) choices)
            combine  (2 choices: add, concat; only with search_combine=True)

With the defaults (B = 5, 13 ops) that is 40 decisions and
``(2*3*4*5*6)**4 * 13**20``, about 5.1e33, ordered choice tuples (fewer
distinct architectures: swapping the branches of an add block gives the same
genotype fingerprint).

Example:
    >>> from search_cifar.space import NasnetCellSpace
    >>> space = NasnetCellSpace(num_blocks=2)
    >>> len(space.num_choices), space.decisions_per_block
    (16, 8)
    >>> genotype = space.decode((0,) * 16)
    >>> space.encode(genotype) == (0,) * 16
    True
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from nasnet.genotype import ALL_OPS, Block, Cell, Combine, Genotype, Op

_COMBINES: tuple[Combine, ...] = (Combine.ADD, Combine.CONCAT)
_CELLS = ("normal", "reduction")


def _check_choice_values(choices: Any, num_choices: Sequence[int]) -> tuple[int, ...]:
    """Returns ``choices`` as a tuple of ints; ValueError naming a bad entry."""
    if isinstance(choices, (str, bytes)) or not hasattr(choices, "__len__"):
        raise ValueError(f"choices must be a sequence of ints, got {choices!r}")
    out = []
    for i, (value, n) in enumerate(zip(choices, num_choices)):
        # numpy integers are fine; bools and floats are not.
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise ValueError(f"choice {i} must be an int, got {value!r}")
        value = int(value)
        if not 0 <= value < n:
            raise ValueError(
                f"choice {i} is {value}, out of range: decision {i} has {n} choices (0..{n - 1})")
        out.append(value)
    return tuple(out)


class CategoricalSpace:
    """A plain sequence of categorical decisions with no decoding.

    Args:
        num_choices: the number of choices of each decision, each >= 1.
    """

    is_block_structured = False

    def __init__(self, num_choices: Iterable[int]):
        try:
            num_choices = tuple(num_choices)
        except TypeError:
            raise ValueError(
                f"num_choices must be a sequence of ints, got {num_choices!r}") from None
        if not num_choices:
            raise ValueError("num_choices must name at least one decision, got ()")
        for i, n in enumerate(num_choices):
            if isinstance(n, bool) or not hasattr(n, "__index__") or int(n) < 1:
                raise ValueError(f"num_choices[{i}] must be an int >= 1, got {n!r}")
        self.num_choices: tuple[int, ...] = tuple(int(n) for n in num_choices)

    @property
    def num_decisions(self) -> int:
        return len(self.num_choices)

    def size(self) -> int:
        """The number of points in the space."""
        return math.prod(self.num_choices)

    def signature(self) -> dict[str, Any]:
        return {"kind": "categorical", "num_choices": list(self.num_choices)}

    def validate(self, choices: Sequence[int]) -> tuple[int, ...]:
        """Returns ``choices`` as a tuple; ValueError naming the bad position/value."""
        if hasattr(choices, "__len__") and len(choices) != len(self.num_choices):
            raise ValueError(
                f"expected {len(self.num_choices)} choices, got {len(choices)}: {list(choices)!r}")
        return _check_choice_values(choices, self.num_choices)

    def key(self, choices: Sequence[int]) -> str:
        """The identity of a point for de-duplication."""
        return "c:" + ",".join(str(c) for c in self.validate(choices))

    def __repr__(self) -> str:
        return f"CategoricalSpace(num_choices={self.num_choices})"


class NasnetCellSpace:
    """The NASNet cell search space (Zoph et al. 2018, Sec. 3).

    Args:
        num_blocks: B, the blocks per cell (5 in the paper).
        ops: the op set, in the order choices index it (the 13 ops by default).
        search_combine: whether each block also chooses add or concat (the
            paper searches it; NASNet-A uses add everywhere).
    """

    is_block_structured = True

    def __init__(self, num_blocks: int = 5, ops: Iterable[Op | str] = ALL_OPS,
                 search_combine: bool = False):
        if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 1:
            raise ValueError(f"num_blocks must be an int >= 1, got {num_blocks!r}")
        if isinstance(ops, (str, Op)):
            raise ValueError(f"ops must be a sequence of op names, got {ops!r}")
        parsed = tuple(Op.parse(op) for op in ops)
        if not parsed:
            raise ValueError("ops must name at least one op, got ()")
        duplicates = sorted({op.value for op in parsed if parsed.count(op) > 1})
        if duplicates:
            raise ValueError(f"ops lists {duplicates} more than once")
        if not isinstance(search_combine, bool):
            raise ValueError(f"search_combine must be a bool, got {search_combine!r}")
        self.num_blocks = num_blocks
        self.ops: tuple[Op, ...] = parsed
        self.search_combine = search_combine
        self.num_choices: tuple[int, ...] = tuple(
            n for k in range(num_blocks) for n in self.block_num_choices(k))

    # -- layout ---------------------------------------------------------
    @property
    def decisions_per_cell_block(self) -> int:
        """Decisions of one block of one cell: 4, or 5 with search_combine."""
        return 5 if self.search_combine else 4

    @property
    def decisions_per_block(self) -> int:
        """Decisions of block k of both cells (normal then reduction)."""
        return 2 * self.decisions_per_cell_block

    @property
    def num_decisions(self) -> int:
        return len(self.num_choices)

    def block_num_choices(self, k: int) -> tuple[int, ...]:
        """The choice counts of block k (both cells), in decision order."""
        per_cell = (k + 2, len(self.ops), k + 2, len(self.ops))
        if self.search_combine:
            per_cell += (len(_COMBINES),)
        return per_cell * 2

    def prefix_num_choices(self, num_blocks: int) -> tuple[int, ...]:
        """``num_choices`` of the cells truncated to their first ``num_blocks`` blocks."""
        self._check_prefix_blocks(num_blocks)
        return self.num_choices[:num_blocks * self.decisions_per_block]

    def decision_names(self) -> list[str]:
        """Human-readable names, e.g. ``"b0.normal.input_a"``."""
        fields = ["input_a", "op_a", "input_b", "op_b"]
        if self.search_combine:
            fields.append("combine")
        return [f"b{k}.{cell}.{f}" for k in range(self.num_blocks) for cell in _CELLS
                for f in fields]

    def decision_kinds(self) -> list[str]:
        """Per decision: "input", "op" or "combine" (for mutations)."""
        kinds = ["input", "op", "input", "op"]
        if self.search_combine:
            kinds.append("combine")
        return kinds * (2 * self.num_blocks)

    def num_blocks_of(self, choices: Sequence[int]) -> int:
        """How many whole blocks a (prefix) choice tuple describes."""
        n, per = len(choices), self.decisions_per_block
        if n == 0 or n % per or n // per > self.num_blocks:
            raise ValueError(
                f"expected a multiple of {per} choices (whole blocks, 1..{self.num_blocks} of "
                f"them; {len(self.num_choices)} for the full space), got {n}")
        return n // per

    def _check_prefix_blocks(self, num_blocks: int) -> None:
        if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) \
                or not 1 <= num_blocks <= self.num_blocks:
            raise ValueError(f"num_blocks must be in 1..{self.num_blocks}, got {num_blocks!r}")

    def size(self, num_blocks: int | None = None) -> int:
        """The number of choice tuples with ``num_blocks`` (default B) blocks."""
        b = self.num_blocks if num_blocks is None else num_blocks
        return math.prod(self.prefix_num_choices(b))

    # -- the space contract ---------------------------------------------
    def signature(self) -> dict[str, Any]:
        return {"kind": "nasnet_cell", "num_blocks": self.num_blocks,
                "ops": [op.value for op in self.ops], "search_combine": self.search_combine}

    def validate(self, choices: Sequence[int]) -> tuple[int, ...]:
        """Checks a full or whole-block-prefix choice tuple; returns it as ints."""
        if isinstance(choices, (str, bytes)) or not hasattr(choices, "__len__"):
            raise ValueError(f"choices must be a sequence of ints, got {choices!r}")
        self.num_blocks_of(choices)
        return _check_choice_values(choices, self.num_choices)

    def decode(self, choices: Sequence[int]) -> Genotype:
        """The Genotype of a full (or whole-block-prefix) choice tuple."""
        choices = self.validate(choices)
        per_cell = self.decisions_per_cell_block
        cells: dict[str, list[Block]] = {c: [] for c in _CELLS}
        for k in range(len(choices) // self.decisions_per_block):
            for c, cell in enumerate(_CELLS):
                start = k * self.decisions_per_block + c * per_cell
                d = choices[start:start + per_cell]
                combine = _COMBINES[d[4]] if self.search_combine else Combine.ADD
                cells[cell].append(Block(d[0], self.ops[d[1]], d[2], self.ops[d[3]], combine))
        return Genotype(normal=Cell.with_unused_concat(cells["normal"]),
                        reduction=Cell.with_unused_concat(cells["reduction"]))

    def encode(self, genotype: Genotype) -> tuple[int, ...]:
        """The choices of a Genotype of this space; ValueError if it is not in it.

        The concat lists must be the unused block outputs (the space's rule).
        """
        if not isinstance(genotype, Genotype):
            raise ValueError(f"expected a Genotype, got {genotype!r}")
        sizes = {genotype.normal.num_blocks, genotype.reduction.num_blocks}
        if len(sizes) != 1 or not 1 <= min(sizes) <= self.num_blocks:
            raise ValueError(
                f"both cells must have the same number of blocks in 1..{self.num_blocks}, "
                f"got normal={genotype.normal.num_blocks}, "
                f"reduction={genotype.reduction.num_blocks}")
        op_index = {op: i for i, op in enumerate(self.ops)}
        out: list[int] = []
        for k in range(genotype.normal.num_blocks):
            for cell_name in _CELLS:
                block = getattr(genotype, cell_name).blocks[k]
                for op in block.ops:
                    if op not in op_index:
                        raise ValueError(
                            f"{cell_name} block {k} uses op {op.value!r}, not in this space's "
                            f"ops {[o.value for o in self.ops]}")
                if not self.search_combine and block.combine is not Combine.ADD:
                    raise ValueError(
                        f"{cell_name} block {k} combines with {block.combine.value!r}, but this "
                        f"space only has 'add' (search_combine=False)")
                out += [block.input_a, op_index[block.op_a], block.input_b, op_index[block.op_b]]
                if self.search_combine:
                    out.append(_COMBINES.index(block.combine))
        for cell_name in _CELLS:
            cell = getattr(genotype, cell_name)
            expected = Cell.with_unused_concat(cell.blocks).concat
            if cell.concat != expected:
                raise ValueError(
                    f"{cell_name} concat {list(cell.concat)} is not the unused block outputs "
                    f"{list(expected)} that this space produces")
        return self.validate(out)

    def key(self, choices: Sequence[int]) -> str:
        """The identity of a point for de-duplication: the genotype fingerprint."""
        return self.decode(choices).fingerprint()

    def __repr__(self) -> str:
        return (f"NasnetCellSpace(num_blocks={self.num_blocks}, ops={[o.value for o in self.ops]}, "
                f"search_combine={self.search_combine})")


def from_signature(signature: dict[str, Any]) -> CategoricalSpace | NasnetCellSpace:
    """Rebuilds a space from ``space.signature()`` (e.g. from a saved search)."""
    if not isinstance(signature, dict) or "kind" not in signature:
        raise ValueError(f"not a space signature: {signature!r}")
    kind = signature["kind"]
    args = {k: v for k, v in signature.items() if k != "kind"}
    if kind == "categorical":
        return CategoricalSpace(**args)
    if kind == "nasnet_cell":
        return NasnetCellSpace(**args)
    raise ValueError(f"unknown space kind {kind!r}; known: 'categorical', 'nasnet_cell'")
