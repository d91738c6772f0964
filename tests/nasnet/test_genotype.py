"""Genotype, Cell, Block, Op: validation, JSON round trip, fingerprint."""

import json
import pathlib
import subprocess
import sys

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

from nasnet import known_genotypes
from nasnet.genotype import ALL_OPS, FORMAT_VERSION, Block, Cell, Combine, Genotype, Op

NASNET_A = known_genotypes.NASNET_A


def small_cell():
    return Cell(blocks=(Block(0, Op.SEP_CONV_3X3, 1, Op.IDENTITY),
                        Block(2, Op.MAX_POOL_3X3, 0, Op.CONV_1X7_7X1, Combine.CONCAT)),
                concat=(3,))


def test_op_set_is_the_13_ops_of_zoph_2018():
    assert len(ALL_OPS) == 13
    assert Op.parse("sep_conv_5x5") is Op.SEP_CONV_5X5


def test_unknown_op_names_the_value():
    with pytest.raises(ValueError, match="unknown op 'sep_conv_9x9'"):
        Block(0, "sep_conv_9x9", 1, Op.IDENTITY)


def test_unknown_combine_names_the_value():
    with pytest.raises(ValueError, match="unknown combine 'mul'"):
        Block(0, Op.IDENTITY, 1, Op.IDENTITY, "mul")


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_bad_input_index_is_rejected(bad):
    with pytest.raises(ValueError, match=repr(bad) if not isinstance(bad, int) or isinstance(bad, bool) else "-1"):
        Block(bad, Op.IDENTITY, 1, Op.IDENTITY)


def test_block_reading_a_future_state_names_it():
    with pytest.raises(ValueError, match="block 0 reads hidden state 2"):
        Cell(blocks=(Block(2, Op.IDENTITY, 0, Op.IDENTITY),), concat=(2,))


def test_empty_cell_is_rejected():
    with pytest.raises(ValueError, match="at least one block"):
        Cell(blocks=(), concat=(0,))


def test_non_block_is_rejected():
    with pytest.raises(ValueError, match="block 0 must be a Block"):
        Cell(blocks=("sep",), concat=(2,))


def test_concat_out_of_range_names_the_state():
    with pytest.raises(ValueError, match="concat names hidden state 7"):
        Cell(blocks=(Block(0, Op.IDENTITY, 1, Op.IDENTITY),), concat=(2, 7))


def test_concat_must_be_sorted_and_distinct():
    with pytest.raises(ValueError, match=r"distinct states in increasing order, got \[2, 2\]"):
        Cell(blocks=(Block(0, Op.IDENTITY, 1, Op.IDENTITY),), concat=(2, 2))


def test_empty_concat_is_rejected():
    with pytest.raises(ValueError, match="at least one hidden state"):
        Cell(blocks=(Block(0, Op.IDENTITY, 1, Op.IDENTITY),), concat=())


def test_concat_leaving_out_an_unconsumed_block_is_rejected():
    blocks = (Block(0, Op.IDENTITY, 1, Op.IDENTITY), Block(0, Op.IDENTITY, 1, Op.IDENTITY))
    with pytest.raises(ValueError, match=r"hidden states \[3\] are block outputs that nothing consumes"):
        Cell(blocks=blocks, concat=(2,))


def test_concat_entry_must_be_int():
    with pytest.raises(ValueError, match="concat entry must be an int"):
        Cell(blocks=(Block(0, Op.IDENTITY, 1, Op.IDENTITY),), concat=("2",))


def test_nasnet_a_concatenates_a_consumed_input_as_released():
    # slim's used_hiddenstates keeps state 1 in the normal cell's output although block 0 reads it.
    assert 1 in NASNET_A.normal.consumed_states()
    assert NASNET_A.normal.concat == (1, 2, 3, 4, 5, 6)
    assert NASNET_A.reduction.concat == (3, 4, 5, 6)


def test_with_unused_concat_takes_exactly_the_unconsumed_blocks():
    blocks = (Block(0, Op.IDENTITY, 1, Op.IDENTITY), Block(2, Op.IDENTITY, 1, Op.IDENTITY),
              Block(0, Op.AVG_POOL_3X3, 1, Op.IDENTITY))
    assert Cell.with_unused_concat(blocks).concat == (3, 4)


def test_genotype_rejects_non_cells_and_bad_names():
    with pytest.raises(ValueError, match="normal must be a Cell"):
        Genotype(normal="x", reduction=small_cell())
    with pytest.raises(ValueError, match="name must be a string"):
        Genotype(normal=small_cell(), reduction=small_cell(), name=3)


def test_json_round_trip_is_exact():
    g = Genotype(normal=small_cell(), reduction=NASNET_A.reduction, name="mine")
    text = g.to_json()
    assert Genotype.from_json(text) == g
    assert json.loads(text)["format_version"] == FORMAT_VERSION
    for known in known_genotypes.KNOWN.values():
        assert Genotype.from_json(known.to_json()) == known


def test_fingerprint_ignores_name_and_add_branch_order():
    a = Cell(blocks=(Block(0, Op.SEP_CONV_3X3, 1, Op.IDENTITY),), concat=(2,))
    b = Cell(blocks=(Block(1, Op.IDENTITY, 0, Op.SEP_CONV_3X3),), concat=(2,))
    assert Genotype(a, a, "x").fingerprint() == Genotype(b, b, "y").fingerprint()
    c = Cell(blocks=(Block(0, Op.SEP_CONV_3X3, 1, Op.IDENTITY, Combine.CONCAT),), concat=(2,))
    d = Cell(blocks=(Block(1, Op.IDENTITY, 0, Op.SEP_CONV_3X3, Combine.CONCAT),), concat=(2,))
    assert Genotype(c, c).fingerprint() != Genotype(d, d).fingerprint()  # concat order matters
    assert Genotype(a, a).fingerprint() != Genotype(a, c).fingerprint()


def test_fingerprint_is_stable_across_processes():
    code = ("from nasnet import known_genotypes as k; "
            "print(k.NASNET_A.fingerprint())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == NASNET_A.fingerprint() == "8f58b14be54be74e"


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object, got list"),
    ('{"normal": {}, "reduction": {}}', r"missing key\(s\) \['format_version'\]"),
    ('{"format_version": 99, "normal": {}, "reduction": {}}', "unsupported genotype format_version 99"),
    ('{"format_version": 1, "normal": [], "reduction": {}}', "genotype 'normal' must be a JSON object"),
    ('{"format_version": 1, "normal": {"blocks": []}, "reduction": {}}', r"bad normal cell: cell is missing key\(s\) \['concat'\]"),
    ('{"format_version": 1, "normal": {"blocks": 3, "concat": [2]}, "reduction": {}}', "cell 'blocks' must be a list"),
    ('{"format_version": 1, "normal": {"blocks": [], "concat": 2}, "reduction": {}}', "cell 'concat' must be a list"),
    ('{"format_version": 1, "normal": {"blocks": [7], "concat": [2]}, "reduction": {}}', "block 0 must be a JSON object"),
    ('{"format_version": 1, "normal": {"blocks": [{"inputs": [0], "ops": ["identity", "identity"]}], "concat": [2]}, "reduction": {}}',
     "block 'inputs' must be a list of 2 ints"),
    ('{"format_version": 1, "normal": {"blocks": [{"inputs": [0, 1], "ops": "identity"}], "concat": [2]}, "reduction": {}}',
     "block 'ops' must be a list of 2 op names"),
    ('{"format_version": 1, "normal": {"blocks": [{"inputs": [0, 1], "ops": ["identity", "conv_9x9"]}], "concat": [2]}, "reduction": {}}',
     "unknown op 'conv_9x9'"),
    ('{"format_version": 1, "extra": 1, "normal": {}, "reduction": {}}', r"unknown key\(s\) \['extra'\]"),
])
def test_malformed_json_gives_a_clear_value_error(text, message):
    with pytest.raises(ValueError, match=message):
        Genotype.from_json(text)


def test_edited_file_is_detected_by_its_fingerprint():
    data = json.loads(NASNET_A.to_json())
    data["normal"]["blocks"][0]["ops"][0] = "sep_conv_7x7"
    with pytest.raises(ValueError, match="does not match the cells"):
        Genotype.from_dict(data)


def test_save_and_load(tmp_path):
    path = tmp_path / "sub" / "g.json"
    NASNET_A.save(str(path))
    assert Genotype.load(str(path)) == NASNET_A
    assert [p.name for p in path.parent.iterdir()] == ["g.json"]  # no temp file left


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read genotype file"):
        Genotype.load(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match=f"{bad}: genotype is not valid JSON"):
        Genotype.load(str(bad))


# -- the canonical fingerprint (format version 2) ------------------------------------
def _reordered(cell: Cell, order: tuple[int, ...], swap: tuple[bool, ...] = ()) -> Cell:
    """``cell`` listed with its blocks in ``order`` (a topological order), states
    renumbered, and the add blocks named in ``swap`` with their branches swapped."""
    new = {0: 0, 1: 1}
    for position, old in enumerate(order):
        new[old + 2] = position + 2
    blocks = []
    for position, old in enumerate(order):
        b = cell.blocks[old]
        a, c = (new[b.input_a], b.op_a), (new[b.input_b], b.op_b)
        if b.combine is Combine.ADD and position < len(swap) and swap[position]:
            a, c = c, a
        blocks.append(Block(a[0], a[1], c[0], c[1], b.combine))
    return Cell(blocks=tuple(blocks), concat=tuple(sorted(new[s] for s in cell.concat)))


def test_independent_blocks_in_another_order_have_the_same_fingerprint():
    cell = Cell(blocks=(Block(0, Op.SEP_CONV_3X3, 1, Op.IDENTITY),
                        Block(0, Op.AVG_POOL_3X3, 0, Op.MAX_POOL_3X3),
                        Block(2, Op.SEP_CONV_5X5, 0, Op.IDENTITY)), concat=(3, 4))
    # Block 1 first: old state 3 becomes 2, old 2 becomes 3, concat (2, 4).
    other = Cell(blocks=(Block(0, Op.AVG_POOL_3X3, 0, Op.MAX_POOL_3X3),
                         Block(0, Op.SEP_CONV_3X3, 1, Op.IDENTITY),
                         Block(3, Op.SEP_CONV_5X5, 0, Op.IDENTITY)), concat=(2, 4))
    assert other == _reordered(cell, (1, 0, 2))
    assert other != cell
    assert Genotype(cell, NASNET_A.reduction).fingerprint() == \
        Genotype(other, NASNET_A.reduction).fingerprint()
    assert cell.canonical() == other.canonical()
    # A different network (block 2 reads the pool block instead) differs.
    different = Cell(blocks=(Block(0, Op.SEP_CONV_3X3, 1, Op.IDENTITY),
                             Block(0, Op.AVG_POOL_3X3, 0, Op.MAX_POOL_3X3),
                             Block(3, Op.SEP_CONV_5X5, 0, Op.IDENTITY)), concat=(2, 4))
    assert Genotype(different, NASNET_A.reduction).fingerprint() != \
        Genotype(cell, NASNET_A.reduction).fingerprint()


def test_blocks_with_equal_signatures_but_different_consumers_canonicalise_alike():
    # Blocks 0 and 1 compute the same thing from the inputs; only block 0 is read
    # later. Listing them the other way round is the same network.
    twin = Block(0, Op.SEP_CONV_3X3, 1, Op.IDENTITY)
    a = Cell(blocks=(twin, twin, Block(2, Op.MAX_POOL_3X3, 0, Op.IDENTITY)), concat=(3, 4))
    b = Cell(blocks=(twin, twin, Block(3, Op.MAX_POOL_3X3, 0, Op.IDENTITY)), concat=(2, 4))
    assert a != b
    assert a.canonical() == b.canonical()


def _random_cell(rng, num_blocks: int) -> Cell:
    ops = list(Op)
    blocks = []
    for k in range(num_blocks):
        blocks.append(Block(int(rng.integers(k + 2)), ops[int(rng.integers(len(ops)))],
                            int(rng.integers(k + 2)), ops[int(rng.integers(len(ops)))],
                            Combine.ADD if rng.random() < 0.8 else Combine.CONCAT))
    cell = Cell.with_unused_concat(blocks)
    if rng.random() < 0.3:  # also concatenate a consumed state, as NASNet-A does
        extra = sorted(set(cell.concat) | {int(rng.integers(cell.num_states))})
        cell = Cell(blocks=cell.blocks, concat=tuple(extra))
    return cell


def _random_topological_order(rng, cell: Cell) -> tuple[int, ...]:
    needs = [{i - 2 for i in b.inputs if i >= 2} for b in cell.blocks]
    order: list[int] = []
    while len(order) < cell.num_blocks:
        ready = [k for k in range(cell.num_blocks) if k not in order and needs[k] <= set(order)]
        order.append(ready[int(rng.integers(len(ready)))])
    return tuple(order)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(seed=st.integers(0, 2**32 - 1), num_blocks=st.integers(1, 6))
def test_every_listing_of_a_network_has_one_fingerprint(seed, num_blocks):
    rng = np.random.default_rng(seed)
    cell = _random_cell(rng, num_blocks)
    order = _random_topological_order(rng, cell)
    swap = tuple(bool(s) for s in rng.integers(2, size=num_blocks))
    other = _reordered(cell, order, swap)
    assert other.canonical() == cell.canonical()
    assert cell.canonical().canonical() == cell.canonical()  # idempotent
    assert Genotype(cell, other).fingerprint() == Genotype(other, cell).fingerprint()
    # The canonical cell is a listing of the same network (same multiset of blocks
    # up to renumbering): it has as many blocks and concatenated states.
    assert cell.canonical().num_blocks == cell.num_blocks
    assert len(cell.canonical().concat) == len(cell.concat)


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(seed=st.integers(0, 2**32 - 1))
def test_changing_one_op_changes_the_fingerprint(seed):
    rng = np.random.default_rng(seed)
    cell = _random_cell(rng, 4)
    k = int(rng.integers(cell.num_blocks))
    b = cell.blocks[k]
    new_op = Op.CONV_3X3 if b.op_a is not Op.CONV_3X3 else Op.CONV_1X1
    changed = list(cell.blocks)
    changed[k] = Block(b.input_a, new_op, b.input_b, b.op_b, b.combine)
    other = Cell(blocks=tuple(changed), concat=cell.concat)
    assert Genotype(cell, cell).fingerprint() != Genotype(other, other).fingerprint()


def test_equivalent_listings_build_the_same_network():
    from nasnet import networks  # TensorFlow: only this test needs it

    cell = Cell(blocks=(Block(0, Op.SEP_CONV_3X3, 1, Op.IDENTITY),
                        Block(0, Op.AVG_POOL_3X3, 1, Op.MAX_POOL_3X3),
                        Block(2, Op.SEP_CONV_5X5, 0, Op.IDENTITY)), concat=(3, 4))
    other = _reordered(cell, (1, 0, 2), swap=(True, True, True))
    config = networks.ClassifierConfig(
        backbone=networks.BackboneConfig(stem="cifar", num_cells_per_stack=1,
                                         num_conv_filters=4),
        num_classes=3, image_size=8, use_aux_head=False)
    sizes = [networks.build_classifier(Genotype(c, c), config).count_params()
             for c in (cell, other)]
    assert sizes[0] == sizes[1]
    assert Genotype(cell, cell).fingerprint() == Genotype(other, other).fingerprint()


def test_version_1_files_load_and_their_fingerprint_is_checked_by_the_version_1_rule():
    data = json.loads(NASNET_A.to_json())
    assert data["format_version"] == FORMAT_VERSION == 2
    assert data["fingerprint"] == NASNET_A.fingerprint()
    v1 = dict(data, format_version=1, fingerprint="3dcd0551abf52076")
    assert NASNET_A.legacy_fingerprint_v1() == "3dcd0551abf52076"
    assert Genotype.from_dict(v1) == NASNET_A
    assert Genotype.from_dict({k: v for k, v in v1.items() if k != "fingerprint"}) == NASNET_A
    with pytest.raises(ValueError, match="for format_version 1"):
        Genotype.from_dict(dict(v1, fingerprint=NASNET_A.fingerprint()))
    with pytest.raises(ValueError, match="for format_version 2"):
        Genotype.from_dict(dict(data, fingerprint="3dcd0551abf52076"))


def test_a_version_1_file_of_the_repository_still_loads():
    path = pathlib.Path(__file__).parents[1] / "transfer" / "testdata" / "tiny_genotype.json"
    assert json.loads(path.read_text())["format_version"] == 1
    genotype = Genotype.load(str(path))
    assert genotype.legacy_fingerprint_v1() == json.loads(path.read_text())["fingerprint"]


@pytest.mark.parametrize("version", [True, False, 1.0, "1", 0, 3, None])
def test_format_version_must_be_a_known_int(version):
    data = json.loads(NASNET_A.to_json())
    data["format_version"] = version
    with pytest.raises(ValueError, match="unsupported genotype format_version"):
        Genotype.from_dict(data)


def test_deeply_nested_json_is_a_value_error():
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match="nested too deeply"):
        Genotype.from_json(text)
