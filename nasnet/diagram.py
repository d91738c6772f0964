"""Cell diagrams: a Cell drawn like the figures of the NASNet and DARTS papers.

The picture follows Zoph et al. 2018, Fig. 4 (and Liu et al. 2019, DARTS,
Fig. 4): the cell's two inputs at the bottom, one box per operation, one
"add" (or "concat") node per block, and the output "concat" of the states in
``cell.concat`` at the top. Hidden-state numbering follows ``nasnet.genotype``:

* state 0 is drawn as ``h[k-1]`` (the previous cell's output),
* state 1 as ``h[k-2]`` (the cell before that),
* state 2 + b is the combine node of block b, the cell's output is ``h[k]``.

Rendering uses the ``graphviz`` Python package, which runs Graphviz's ``dot``
program (Debian: ``apt-get install graphviz``; ``make setup`` installs it).
Files are written atomically: every format is rendered into a temporary
directory beside the destination, then moved into place with ``os.replace``.

Example:
    >>> from nasnet import diagram, known_genotypes
    >>> diagram.render_cell(known_genotypes.NASNET_A.normal, "/tmp/nasnet_a_normal")
    ['/tmp/nasnet_a_normal.png', '/tmp/nasnet_a_normal.svg']
    >>> diagram.render_genotype(known_genotypes.NASNET_A, "/tmp/nasnet_a")  # doctest: +SKIP
    ['/tmp/nasnet_a/normal.png', '/tmp/nasnet_a/normal.svg',
     '/tmp/nasnet_a/reduction.png', '/tmp/nasnet_a/reduction.svg']
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Sequence

import graphviz

from nasnet.genotype import Cell, Combine, Genotype, Op

DEFAULT_FORMATS: tuple[str, ...] = ("png", "svg")

#: Short labels, as in the paper figures ("sep 3x3", "avg 3x3", ...).
OP_LABELS: dict[Op, str] = {
    Op.IDENTITY: "identity",
    Op.CONV_1X3_3X1: "1x3 + 3x1 conv",
    Op.CONV_1X7_7X1: "1x7 + 7x1 conv",
    Op.DIL_CONV_3X3: "dil 3x3",
    Op.AVG_POOL_3X3: "avg 3x3",
    Op.MAX_POOL_3X3: "max 3x3",
    Op.MAX_POOL_5X5: "max 5x5",
    Op.MAX_POOL_7X7: "max 7x7",
    Op.CONV_1X1: "conv 1x1",
    Op.CONV_3X3: "conv 3x3",
    Op.SEP_CONV_3X3: "sep 3x3",
    Op.SEP_CONV_5X5: "sep 5x5",
    Op.SEP_CONV_7X7: "sep 7x7",
}

# Fill colours by op family (pale, so the black labels stay readable in print).
_SEP_CONV = "#fff2cc"     # separable and dilated convolutions: yellow
_CONV = "#f4cccc"         # plain convolutions: red
_POOL = "#d9ead3"         # pooling: green
_IDENTITY = "#ffffff"     # identity: white
_OP_COLOURS: dict[Op, str] = {
    Op.IDENTITY: _IDENTITY,
    Op.CONV_1X3_3X1: _CONV, Op.CONV_1X7_7X1: _CONV, Op.CONV_1X1: _CONV, Op.CONV_3X3: _CONV,
    Op.DIL_CONV_3X3: _SEP_CONV, Op.SEP_CONV_3X3: _SEP_CONV, Op.SEP_CONV_5X5: _SEP_CONV,
    Op.SEP_CONV_7X7: _SEP_CONV,
    Op.AVG_POOL_3X3: _POOL, Op.MAX_POOL_3X3: _POOL, Op.MAX_POOL_5X5: _POOL,
    Op.MAX_POOL_7X7: _POOL,
}
_INPUT_COLOUR = "#cfe2f3"    # cell inputs: blue
_COMBINE_COLOUR = "#b6d7a8"  # block add/concat: green
_OUTPUT_COLOUR = "#c9daf8"   # output concat: blue
_FONT = "Helvetica"

#: How the two cell inputs are labelled (slim convention, see nasnet.genotype).
INPUT_LABELS: tuple[str, str] = ("h[k-1]", "h[k-2]")
OUTPUT_LABEL = "h[k]"


def op_label(op: Op) -> str:
    """The short label drawn for ``op``, e.g. ``Op.SEP_CONV_3X3`` -> ``"sep 3x3"``."""
    return OP_LABELS.get(op, op.value.replace("_", " "))


def state_node(index: int) -> str:
    """The graph node id of hidden state ``index`` (0, 1: inputs; 2 + b: block b)."""
    return f"s{index}"


def op_node(block: int, branch: str) -> str:
    """The node id of block ``block``'s op on branch ``"a"`` or ``"b"``."""
    return f"b{block}_{branch}"


def cell_graph(cell: Cell, title: str | None = None) -> graphviz.Digraph:
    """Builds the diagram of ``cell`` (no rendering, no ``dot`` needed).

    Node ids: ``s0``/``s1`` the inputs, ``b{k}_a``/``b{k}_b`` the two ops of block
    k, ``s{2+k}`` its combine node, ``concat`` and ``out`` the cell output. Each
    block input is one edge ``s{i} -> b{k}_{a|b}``.

    Args:
      cell: the cell to draw.
      title: a caption drawn above the cell, or None for none.

    Raises:
      ValueError: ``cell`` is not a ``nasnet.genotype.Cell``.
    """
    if not isinstance(cell, Cell):
        raise ValueError(f"cell_graph needs a nasnet.genotype.Cell, got {cell!r}")
    g = graphviz.Digraph(name="cell")
    g.attr(rankdir="BT", splines="spline", nodesep="0.25", ranksep="0.45",
           fontname=_FONT, fontsize="16")
    if title:
        g.attr(label=title, labelloc="t", labeljust="c")
    g.attr("node", fontname=_FONT, fontsize="12", style="filled", penwidth="1.2")
    g.attr("edge", arrowsize="0.6", penwidth="1.0", color="#444444")

    with g.subgraph(name="inputs") as inputs:
        inputs.attr(rank="source")
        for index in (1, 0):  # h[k-2] left of h[k-1], as in the paper figures
            inputs.node(state_node(index), INPUT_LABELS[index], shape="box",
                        style="rounded,filled", fillcolor=_INPUT_COLOUR, fontsize="13")
    for k, block in enumerate(cell.blocks):
        combine = state_node(2 + k)
        for branch, index, op in (("a", block.input_a, block.op_a),
                                  ("b", block.input_b, block.op_b)):
            node = op_node(k, branch)
            g.node(node, op_label(op), shape="box", fillcolor=_OP_COLOURS.get(op, _IDENTITY),
                   tooltip=f"block {k}, input {branch}: {op.value} of state {index}")
            g.edge(state_node(index), node)
            g.edge(node, combine)
        label = "add" if block.combine is Combine.ADD else "concat"
        g.node(combine, label, shape="ellipse", fillcolor=_COMBINE_COLOUR,
               tooltip=f"block {k} = state {2 + k}")
    with g.subgraph(name="output") as output:
        output.attr(rank="sink")
        output.node("out", OUTPUT_LABEL, shape="box", style="rounded,filled",
                    fillcolor=_INPUT_COLOUR, fontsize="13")
    g.node("concat", "concat", shape="box", fillcolor=_OUTPUT_COLOUR, width="1.6")
    for index in cell.concat:
        g.edge(state_node(index), "concat")
    g.edge("concat", "out")
    return g


def _check_formats(formats: Sequence[str] | str) -> list[str]:
    if isinstance(formats, str):
        formats = (formats,)
    formats = list(dict.fromkeys(formats))  # drop repeats, keep order
    if not formats:
        raise ValueError("formats must name at least one output format, got none")
    for fmt in formats:
        if fmt not in graphviz.FORMATS:
            raise ValueError(
                f"unknown diagram format {fmt!r}; use one of graphviz's formats, "
                f"e.g. 'png', 'svg', 'pdf'")
    return formats


def _check_dot() -> None:
    if shutil.which("dot") is None:
        raise RuntimeError(
            "Graphviz's `dot` program is not on PATH, so cell diagrams cannot be rendered; "
            "install graphviz: apt-get install graphviz (or run `make setup`)")


def render_cell(cell: Cell, path_without_ext: str,
                formats: Sequence[str] | str = DEFAULT_FORMATS,
                title: str | None = None) -> list[str]:
    """Draws ``cell`` to ``path_without_ext + "." + fmt`` for each format.

    All formats are rendered into a temporary directory beside the destination
    first, then moved into place, so a reader never sees a partial file and a
    failure leaves no new files.

    Args:
      cell: the cell to draw.
      path_without_ext: destination path without extension; its directory is
        created if needed.
      formats: Graphviz output formats, e.g. ``("png", "svg")``.
      title: caption above the cell.

    Returns:
      The written paths, in the order of ``formats``.

    Raises:
      ValueError: an unknown format, no format, or ``cell`` is not a Cell.
      RuntimeError: Graphviz's ``dot`` is not installed.
    """
    formats = _check_formats(formats)
    graph = cell_graph(cell, title)
    _check_dot()
    target = os.path.abspath(path_without_ext)
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".diagram-", dir=directory)
    try:
        staged = []
        for fmt in formats:
            try:
                data = graph.pipe(format=fmt)
            except graphviz.ExecutableNotFound:
                _check_dot()
                raise
            tmp = os.path.join(scratch, f"cell.{fmt}")
            with open(tmp, "wb") as f:
                f.write(data)
            staged.append((tmp, f"{target}.{fmt}"))
        for tmp, final in staged:
            os.replace(tmp, final)
        return [final for _, final in staged]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def render_genotype(genotype: Genotype, out_dir: str,
                    formats: Sequence[str] | str = DEFAULT_FORMATS) -> list[str]:
    """Draws both cells of ``genotype`` as ``out_dir/normal.<fmt>`` and ``reduction.<fmt>``.

    Titles name the genotype (its ``name``, else its fingerprint) and the cell.

    Returns:
      The written paths: the normal cell's formats, then the reduction cell's.

    Raises:
      ValueError: ``genotype`` is not a Genotype, or a bad format (see render_cell).
      RuntimeError: Graphviz's ``dot`` is not installed.
    """
    if not isinstance(genotype, Genotype):
        raise ValueError(f"render_genotype needs a nasnet.genotype.Genotype, got {genotype!r}")
    name = genotype.name or genotype.fingerprint()
    paths = []
    for kind, cell in (("normal", genotype.normal), ("reduction", genotype.reduction)):
        paths += render_cell(cell, os.path.join(out_dir, kind), formats,
                             title=f"{name}: {kind} cell")
    return paths
