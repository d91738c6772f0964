"""The architecture value shared by search, transfer, detection and the zoo.

A NASNet cell (Zoph et al. 2018, "Learning Transferable Architectures for
Scalable Image Recognition", Sec. 3) is a small directed graph of B blocks.
Each block picks two inputs among the cell's hidden states, applies one op to
each and combines the two results. The cell's output concatenates a chosen set
of hidden states along channels.

Hidden-state indices follow the slim reference
(tensorflow/models research/slim/nets/nasnet/nasnet_utils.py):

* state 0: the previous cell's output (after ReLU-1x1 conv-BN inside the cell),
* state 1: the output of the cell before that (resized when shapes differ),
* state 2 + k: the output of block k.

Nothing here imports TensorFlow: a Genotype is plain data that validates itself
on construction, round-trips through JSON exactly and has a stable fingerprint.

The fingerprint identifies the *network*, not the listing: two genotypes that
build the same network have the same fingerprint (``Cell.canonical``). JSON
format versions: version 2 (written now) stores the canonical fingerprint;
version 1 files (written before it existed) still load, and a fingerprint
stored in one is checked by the version-1 rule it was written with
(``legacy_fingerprint_v1``).

Example:
    >>> from nasnet.genotype import Block, Cell, Genotype, Op
    >>> cell = Cell(blocks=(Block(0, Op.SEP_CONV_3X3, 1, Op.IDENTITY),), concat=(2,))
    >>> g = Genotype(normal=cell, reduction=cell)
    >>> Genotype.from_json(g.to_json()) == g
    True
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
from typing import Any, Iterable, Mapping

#: The JSON format written by ``to_dict`` / ``to_json``.
FORMAT_VERSION = 2
#: Versions ``from_dict`` reads: 1 stored the version-1 fingerprint.
READABLE_VERSIONS = (1, 2)


class Op(str, enum.Enum):
    """The 13 operations of the NASNet search space (Zoph et al. 2018, Sec. 3).

    Semantics (implemented once in ``nasnet/ops.py``):

    * separable convs are two [ReLU, depthwise-separable conv, BN] with the
      stride on the first (slim ``_stacked_separable_conv``);
    * ``identity`` is a no-op, or ReLU-1x1 conv-BN when a stride or channel
      change is needed (slim's ``none``);
    * pools are followed by a 1x1 conv-BN only when channels differ;
    * the plain convolutions use the bottleneck of the AmoebaNet TPU reference
      (tensorflow/tpu models/official/amoeba_net/network_utils.py).
    """

    IDENTITY = "identity"
    CONV_1X3_3X1 = "conv_1x3_3x1"
    CONV_1X7_7X1 = "conv_1x7_7x1"
    DIL_CONV_3X3 = "dil_conv_3x3"
    AVG_POOL_3X3 = "avg_pool_3x3"
    MAX_POOL_3X3 = "max_pool_3x3"
    MAX_POOL_5X5 = "max_pool_5x5"
    MAX_POOL_7X7 = "max_pool_7x7"
    CONV_1X1 = "conv_1x1"
    CONV_3X3 = "conv_3x3"
    SEP_CONV_3X3 = "sep_conv_3x3"
    SEP_CONV_5X5 = "sep_conv_5x5"
    SEP_CONV_7X7 = "sep_conv_7x7"

    @classmethod
    def parse(cls, value: "Op | str") -> "Op":
        """Returns the Op named by ``value``; ValueError naming it otherwise."""
        if isinstance(value, Op):
            return value
        try:
            return cls(value)
        except ValueError:
            known = ", ".join(op.value for op in cls)
            raise ValueError(f"unknown op {value!r}; known ops: {known}") from None


#: The 13-op set in a fixed order; search spaces index into it.
ALL_OPS: tuple[Op, ...] = tuple(Op)


class Combine(str, enum.Enum):
    """How a block merges its two branches (Zoph et al. 2018, Sec. 3, step 5)."""

    ADD = "add"
    CONCAT = "concat"

    @classmethod
    def parse(cls, value: "Combine | str") -> "Combine":
        if isinstance(value, Combine):
            return value
        try:
            return cls(value)
        except ValueError:
            raise ValueError(
                f"unknown combine {value!r}; expected 'add' or 'concat'") from None


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Block:
    """One block: ``combine(op_a(state[input_a]), op_b(state[input_b]))``."""

    input_a: int
    op_a: Op
    input_b: int
    op_b: Op
    combine: Combine = Combine.ADD

    def __post_init__(self):
        _check_int("input_a", self.input_a)
        _check_int("input_b", self.input_b)
        object.__setattr__(self, "op_a", Op.parse(self.op_a))
        object.__setattr__(self, "op_b", Op.parse(self.op_b))
        object.__setattr__(self, "combine", Combine.parse(self.combine))
        for name, index in (("input_a", self.input_a), ("input_b", self.input_b)):
            if index < 0:
                raise ValueError(f"{name} must be >= 0, got {index}")

    @property
    def inputs(self) -> tuple[int, int]:
        return (self.input_a, self.input_b)

    @property
    def ops(self) -> tuple[Op, Op]:
        return (self.op_a, self.op_b)

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": [self.input_a, self.input_b],
                "ops": [self.op_a.value, self.op_b.value],
                "combine": self.combine.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Block":
        _expect_keys("block", data, required={"inputs", "ops"}, optional={"combine"})
        inputs, ops = data["inputs"], data["ops"]
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"block 'inputs' must be a list of 2 ints, got {inputs!r}")
        if not isinstance(ops, (list, tuple)) or len(ops) != 2:
            raise ValueError(f"block 'ops' must be a list of 2 op names, got {ops!r}")
        return cls(inputs[0], ops[0], inputs[1], ops[1], data.get("combine", "add"))


@dataclasses.dataclass(frozen=True)
class Cell:
    """B blocks and the hidden states concatenated into the cell's output.

    Validated on construction:

    * block k may only read states ``0 .. k + 1`` (the two cell inputs and
      earlier blocks);
    * ``concat`` names existing states, each once, in increasing order;
    * every block output that no later block consumes is in ``concat``
      (otherwise the block would be dead computation).

    ``concat`` may also name consumed states: the published NASNet-A normal cell
    concatenates state 1 although block 0 reads it (slim ``used_hiddenstates``).
    """

    blocks: tuple[Block, ...]
    concat: tuple[int, ...]

    def __post_init__(self):
        blocks = tuple(self.blocks)
        concat = tuple(self.concat)
        object.__setattr__(self, "blocks", blocks)
        object.__setattr__(self, "concat", concat)
        if not blocks:
            raise ValueError("a cell needs at least one block, got 0")
        for k, block in enumerate(blocks):
            if not isinstance(block, Block):
                raise ValueError(f"block {k} must be a Block, got {block!r}")
            for index in block.inputs:
                if index > k + 1:
                    raise ValueError(
                        f"block {k} reads hidden state {index}, but only states "
                        f"0..{k + 1} exist before it")
        num_states = len(blocks) + 2
        if not concat:
            raise ValueError("concat must name at least one hidden state, got ()")
        for index in concat:
            _check_int("concat entry", index)
            if not 0 <= index < num_states:
                raise ValueError(
                    f"concat names hidden state {index}, but the cell has states "
                    f"0..{num_states - 1}")
        if list(concat) != sorted(set(concat)):
            raise ValueError(
                f"concat must list distinct states in increasing order, got {list(concat)}")
        dangling = sorted(set(self.unconsumed_blocks()) - set(concat))
        if dangling:
            raise ValueError(
                f"hidden states {dangling} are block outputs that nothing consumes "
                f"but concat {list(concat)} leaves them out")

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def num_states(self) -> int:
        return len(self.blocks) + 2

    def consumed_states(self) -> set[int]:
        return {index for block in self.blocks for index in block.inputs}

    def unconsumed_blocks(self) -> list[int]:
        """Block-output states (>= 2) that no block reads."""
        consumed = self.consumed_states()
        return [s for s in range(2, self.num_states) if s not in consumed]

    def to_dict(self) -> dict[str, Any]:
        return {"blocks": [b.to_dict() for b in self.blocks], "concat": list(self.concat)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Cell":
        _expect_keys("cell", data, required={"blocks", "concat"})
        blocks = data["blocks"]
        if not isinstance(blocks, (list, tuple)):
            raise ValueError(f"cell 'blocks' must be a list, got {blocks!r}")
        concat = data["concat"]
        if not isinstance(concat, (list, tuple)):
            raise ValueError(f"cell 'concat' must be a list of ints, got {concat!r}")
        parsed = []
        for k, block in enumerate(blocks):
            if not isinstance(block, Mapping):
                raise ValueError(f"block {k} must be a JSON object, got {block!r}")
            parsed.append(Block.from_dict(block))
        return cls(blocks=tuple(parsed), concat=tuple(concat))

    @classmethod
    def with_unused_concat(cls, blocks: Iterable[Block]) -> "Cell":
        """A cell whose output concatenates exactly the unconsumed block outputs.

        This is the rule of the NASNet search space (Zoph et al. 2018, Sec. 3:
        "all unused hidden states ... are concatenated").
        """
        blocks = tuple(blocks)
        consumed = {i for b in blocks for i in b.inputs}
        concat = tuple(s for s in range(2, len(blocks) + 2) if s not in consumed)
        return cls(blocks=blocks, concat=concat)

    def canonical(self) -> "Cell":
        """The representative of every listing of this cell's network.

        Listings that build the same network map to the same canonical cell:

        * the two branches of an add block in either order (addition
          commutes; a concat block keeps its order, which fixes the channel
          order of its output);
        * independent blocks listed in another order (any topological order
          of the block graph builds the same graph), with every later input
          index and ``concat`` renumbered to follow.

        Blocks are ordered by a structural signature (what each computes from
        the cell inputs, independent of indices); where several ready blocks
        tie, every tied choice is tried and the smallest listing is kept, so
        the result does not depend on the listing it started from.
        """
        return _canonical_cell(self)

    def legacy_canonical_v1(self) -> "Cell":
        """Format version 1's canonical form: add branches sorted, blocks kept in order."""
        blocks = []
        for b in self.blocks:
            if b.combine is Combine.ADD and (b.input_b, b.op_b.value) < (b.input_a, b.op_a.value):
                b = Block(b.input_b, b.op_b, b.input_a, b.op_a, b.combine)
            blocks.append(b)
        return Cell(blocks=tuple(blocks), concat=self.concat)


def _block_signature(block: Block, state_signatures: list[tuple]) -> tuple:
    branches = [(state_signatures[i], op.value) for i, op in zip(block.inputs, block.ops)]
    if block.combine is Combine.ADD:
        branches.sort()
    return ("block", block.combine.value, tuple(branches))


def _renumbered(cell: Cell, order: tuple[int, ...]) -> Cell:
    """``cell`` with its blocks listed in ``order`` (old block indices) and states renumbered."""
    new_state = {0: 0, 1: 1}
    for position, old in enumerate(order):
        new_state[old + 2] = position + 2
    blocks = []
    for old in order:
        b = cell.blocks[old]
        a, c = (new_state[b.input_a], b.op_a), (new_state[b.input_b], b.op_b)
        if b.combine is Combine.ADD and (c[0], c[1].value) < (a[0], a[1].value):
            a, c = c, a
        blocks.append(Block(a[0], a[1], c[0], c[1], b.combine))
    concat = tuple(sorted(new_state[s] for s in cell.concat))
    return Cell(blocks=tuple(blocks), concat=concat)


def _listing_key(cell: Cell) -> str:
    return json.dumps(cell.to_dict(), sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=65536)
def _canonical_cell(cell: Cell) -> Cell:
    signatures: list[tuple] = [("input", 0), ("input", 1)]
    for block in cell.blocks:
        signatures.append(_block_signature(block, signatures))
    needs = [{i - 2 for i in b.inputs if i >= 2} for b in cell.blocks]

    best: Cell | None = None
    best_key = ""

    def extend(order: tuple[int, ...]) -> None:
        nonlocal best, best_key
        if len(order) == len(cell.blocks):
            candidate = _renumbered(cell, order)
            key = _listing_key(candidate)
            if best is None or key < best_key:
                best, best_key = candidate, key
            return
        placed = set(order)
        ready = [k for k in range(len(cell.blocks)) if k not in placed and needs[k] <= placed]
        smallest = min(signatures[k + 2] for k in ready)
        for k in ready:
            if signatures[k + 2] == smallest:
                extend(order + (k,))

    extend(())
    assert best is not None
    return best


@dataclasses.dataclass(frozen=True)
class Genotype:
    """A normal cell and a reduction cell: the architecture a search produces."""

    normal: Cell
    reduction: Cell
    name: str = ""

    def __post_init__(self):
        for field in ("normal", "reduction"):
            if not isinstance(getattr(self, field), Cell):
                raise ValueError(f"{field} must be a Cell, got {getattr(self, field)!r}")
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string, got {self.name!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "name": self.name,
                "normal": self.normal.to_dict(), "reduction": self.reduction.to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> "Genotype":
        if not isinstance(data, Mapping):
            raise ValueError(f"a genotype must be a JSON object, got {type(data).__name__}")
        _expect_keys("genotype", data, required={"format_version", "normal", "reduction"},
                     optional={"name", "fingerprint"})
        version = data["format_version"]
        if isinstance(version, bool) or not isinstance(version, int) \
                or version not in READABLE_VERSIONS:
            raise ValueError(
                f"unsupported genotype format_version {version!r}; this code reads "
                f"versions {', '.join(map(str, READABLE_VERSIONS))}")
        cells = {}
        for field in ("normal", "reduction"):
            if not isinstance(data[field], Mapping):
                raise ValueError(f"genotype '{field}' must be a JSON object, got {data[field]!r}")
            try:
                cells[field] = Cell.from_dict(data[field])
            except ValueError as e:
                raise ValueError(f"bad {field} cell: {e}") from None
        genotype = cls(name=data.get("name", ""), **cells)
        if "fingerprint" in data:
            # Checked by the rule of the version the file was written with.
            expected = (genotype.fingerprint() if version == FORMAT_VERSION
                        else genotype.legacy_fingerprint_v1())
            if data["fingerprint"] != expected:
                raise ValueError(
                    f"fingerprint {data['fingerprint']!r} does not match the cells "
                    f"(expected {expected!r} for format_version {version}): the file was "
                    f"edited or corrupted")
        return genotype

    def to_json(self, indent: int | None = 2) -> str:
        data = self.to_dict()
        data["fingerprint"] = self.fingerprint()
        return json.dumps(data, indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Genotype":
        """Parses ``to_json`` output; ValueError with a readable reason otherwise."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"genotype is not valid JSON: {e}") from None
        except RecursionError:
            raise ValueError("genotype JSON is nested too deeply to be a genotype") from None
        return cls.from_dict(data)

    def save(self, path: str) -> None:
        """Writes JSON atomically (temp file, then rename)."""
        from nasnet import io_utils
        io_utils.atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str) -> "Genotype":
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ValueError(f"cannot read genotype file {path!r}: {e.strerror}") from None
        try:
            return cls.from_json(text)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    def fingerprint(self) -> str:
        """A 16-hex-digit id of the network, stable across processes.

        Equal for every listing that builds the same network (``Cell.canonical``:
        add-branch order, the order of independent blocks); the name is not
        part of it.
        """
        return _fingerprint(self.normal.canonical(), self.reduction.canonical())

    def legacy_fingerprint_v1(self) -> str:
        """The fingerprint format version 1 stored (add-branch order only)."""
        return _fingerprint(self.normal.legacy_canonical_v1(),
                            self.reduction.legacy_canonical_v1())

    def canonical(self) -> "Genotype":
        """The same network with both cells in canonical form (``Cell.canonical``)."""
        return dataclasses.replace(self, normal=self.normal.canonical(),
                                   reduction=self.reduction.canonical())

    def with_name(self, name: str) -> "Genotype":
        return dataclasses.replace(self, name=name)


def _fingerprint(normal: Cell, reduction: Cell) -> str:
    canonical = {"normal": normal.to_dict(), "reduction": reduction.to_dict()}
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _expect_keys(what: str, data: Mapping[str, Any], required: set[str],
                 optional: set[str] = frozenset()) -> None:
    missing = sorted(required - set(data))
    if missing:
        raise ValueError(f"{what} is missing key(s) {missing}")
    unknown = sorted(set(data) - required - set(optional))
    if unknown:
        raise ValueError(f"{what} has unknown key(s) {unknown}")
