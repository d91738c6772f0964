"""Genotype, Cell, Block, Op: validation, JSON round trip, fingerprint."""

import json
import subprocess
import sys

import pytest

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
    assert out.stdout.strip() == NASNET_A.fingerprint() == "3dcd0551abf52076"


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
