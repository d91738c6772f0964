"""Tests for nasnet/diagram.py: files are valid, complete, atomic; errors are clear."""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET

import pytest

from nasnet import diagram
from nasnet.genotype import Block, Cell, Combine, Genotype, Op
from nasnet.known_genotypes import NASNET_A

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot is not installed (make setup)")


def _svg_edges(path: str) -> list[str]:
    """The edge titles of a Graphviz SVG, e.g. ``["s0->b0_a", ...]``."""
    root = ET.parse(path).getroot()
    return [g.find(f"{SVG_NS}title").text for g in root.iter(f"{SVG_NS}g")
            if g.get("class") == "edge"]


def _svg_texts(path: str) -> list[str]:
    root = ET.parse(path).getroot()
    return [t.text for t in root.iter(f"{SVG_NS}text")]


def _check_svg(path: str, cell: Cell) -> None:
    edges = _svg_edges(path)
    expected = []
    for k, block in enumerate(cell.blocks):
        expected += [f"s{block.input_a}->b{k}_a", f"s{block.input_b}->b{k}_b",
                     f"b{k}_a->s{2 + k}", f"b{k}_b->s{2 + k}"]
    expected += [f"s{i}->concat" for i in cell.concat] + ["concat->out"]
    assert sorted(edges) == sorted(expected)
    # Exactly one edge per block input, from the right state to the right op.
    for k, block in enumerate(cell.blocks):
        assert edges.count(f"s{block.input_a}->b{k}_a") == 1
        assert edges.count(f"s{block.input_b}->b{k}_b") == 1
    texts = _svg_texts(path)
    for block in cell.blocks:
        for op in block.ops:
            assert diagram.op_label(op) in texts
    assert texts.count("h[k-1]") == 1 and texts.count("h[k-2]") == 1
    assert "h[k]" in texts and "concat" in texts


def _check_png(path: str) -> None:
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 1000


@needs_dot
@pytest.mark.parametrize("kind", ["normal", "reduction"])
def test_nasnet_a_cells_render_to_png_and_svg(tmp_path, kind):
    cell = getattr(NASNET_A, kind)
    paths = diagram.render_cell(cell, str(tmp_path / kind), title=f"NASNet-A {kind}")
    assert paths == [str(tmp_path / f"{kind}.png"), str(tmp_path / f"{kind}.svg")]
    _check_png(paths[0])
    _check_svg(paths[1], cell)
    assert f"NASNet-A {kind}" in _svg_texts(paths[1])
    # Nothing but the two outputs is left behind (the scratch directory is gone).
    assert sorted(os.listdir(tmp_path)) == sorted([f"{kind}.png", f"{kind}.svg"])


def test_nasnet_a_normal_graph_counts():
    """NASNet-A normal: 5 blocks of add, 10 ops, concat of s1 and b0..b4 (slim)."""
    source = diagram.cell_graph(NASNET_A.normal).source
    assert source.count('label=add') == 5
    assert source.count('"sep 5x5"') == 2 and source.count('"sep 3x3"') == 3
    assert source.count('"avg 3x3"') == 3 and source.count("label=identity") == 2
    for state in (1, 2, 3, 4, 5, 6):
        assert f"s{state} -> concat" in source
    assert "s0 -> concat" not in source


@needs_dot
def test_non_default_cell_with_concat_combine(tmp_path):
    cell = Cell(blocks=(Block(1, Op.CONV_1X7_7X1, 0, Op.DIL_CONV_3X3, Combine.CONCAT),
                        Block(2, Op.MAX_POOL_5X5, 2, Op.CONV_3X3),
                        Block(0, Op.CONV_1X3_3X1, 3, Op.MAX_POOL_7X7, Combine.CONCAT)),
                concat=(0, 4))
    (svg,) = diagram.render_cell(cell, str(tmp_path / "sub" / "custom"), formats="svg")
    assert svg == str(tmp_path / "sub" / "custom.svg")
    _check_svg(svg, cell)
    texts = _svg_texts(svg)
    assert texts.count("concat") == 3  # two block combines + the output
    assert texts.count("add") == 1
    for label in ("1x7 + 7x1 conv", "dil 3x3", "max 5x5", "conv 3x3", "1x3 + 3x1 conv",
                  "max 7x7"):
        assert label in texts


@needs_dot
def test_render_genotype_writes_both_cells(tmp_path):
    paths = diagram.render_genotype(NASNET_A, str(tmp_path / "nasnet_a"))
    names = [os.path.basename(p) for p in paths]
    assert names == ["normal.png", "normal.svg", "reduction.png", "reduction.svg"]
    _check_svg(paths[1], NASNET_A.normal)
    _check_svg(paths[3], NASNET_A.reduction)
    assert "nasnet_a: reduction cell" in _svg_texts(paths[3])


@needs_dot
def test_unnamed_genotype_is_titled_by_fingerprint(tmp_path):
    genotype = Genotype(normal=NASNET_A.normal, reduction=NASNET_A.reduction)
    paths = diagram.render_genotype(genotype, str(tmp_path), formats=("svg",))
    assert f"{genotype.fingerprint()}: normal cell" in _svg_texts(paths[0])


@needs_dot
def test_rendering_replaces_existing_files(tmp_path):
    target = tmp_path / "cell.svg"
    target.write_text("stale")
    diagram.render_cell(NASNET_A.normal, str(tmp_path / "cell"), formats=["svg"])
    _check_svg(str(target), NASNET_A.normal)


def test_every_op_has_a_short_label():
    labels = [diagram.op_label(op) for op in Op]
    assert len(set(labels)) == len(labels)
    assert diagram.op_label(Op.SEP_CONV_3X3) == "sep 3x3"


@pytest.mark.parametrize("formats", [("png", "jpeg2"), "bmpx", ()])
def test_unknown_or_missing_format_is_a_value_error(tmp_path, formats):
    with pytest.raises(ValueError, match="format"):
        diagram.render_cell(NASNET_A.normal, str(tmp_path / "cell"), formats=formats)
    assert os.listdir(tmp_path) == []


def test_unknown_format_names_the_format(tmp_path):
    with pytest.raises(ValueError, match="'jpeg2'"):
        diagram.render_cell(NASNET_A.normal, str(tmp_path / "cell"), formats=("jpeg2",))


def test_missing_dot_is_a_runtime_error_naming_the_fix(tmp_path, monkeypatch):
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(RuntimeError, match=r"install graphviz: apt-get install graphviz"):
        diagram.render_cell(NASNET_A.normal, str(tmp_path / "out" / "cell"))
    assert not (tmp_path / "out").exists()


def test_not_a_cell_or_genotype_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="Cell"):
        diagram.cell_graph(NASNET_A)
    with pytest.raises(ValueError, match="Genotype"):
        diagram.render_genotype(NASNET_A.normal, str(tmp_path))
