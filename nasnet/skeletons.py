"""Network skeletons as data: how a published model stacks its cells.

A Genotype says what one cell computes; a skeleton says how the network is
made of cells. The three published cell networks share almost everything
(the ImageNet stem of a 3x3 stride-2 conv and two stride-2 cells at filter
scaling 1/4 and 1/2, 3 stacks of N cells, filters doubled at the 2
reductions, placed by slim's ``calc_reduction_layers``, the aux head before
the second reduction) and differ in two things, which are this record's
fields:

* ``reduction``: what happens at a reduction position.

  - ``"reduction_cell"``: a reduction cell (stride 2) is inserted before the
    first normal cell of stacks 2 and 3; the network has 3 N normal cells plus
    2 reduction cells (NASNet, AmoebaNet).
  - ``"strided_cell"``: there is no extra cell; the first cell of stacks 2 and 3
    runs with stride 2; the network has 3 N cells in all (PNASNet, which has
    one cell type: its Genotype's reduction cell is its normal cell).

* ``aux_head_scaling``: the auxiliary head's 1x1 conv has ``128 x s`` and its
  last conv ``768 x s`` filters (slim: 1.0; the AmoebaNet TPU reference: its
  ``aux_scaling`` flag, default 0.4).

Everything else is a per-model setting of ``nasnet.networks.BackboneConfig``
(N, filters, ``stem_multiplier``, ``skip_reduction_layer_input``, drop path,
batch norm), and ``nasnet.networks.PRESETS`` holds the published ones.

Sources, read (not copied):

* ``nasnet``: tensorflow/models research/slim/nets/nasnet/nasnet.py
  (``_build_nasnet_base``, ``_imagenet_stem``, ``_build_aux_head``) [code].
* ``pnasnet``: research/slim/nets/nasnet/pnasnet.py (``_build_pnasnet_base``:
  ``stride = 2 if is_reduction``, ``total_num_cells = num_cells + 2``; the
  stem cells are the PNASNet cell itself) [code].
* ``amoebanet``: tensorflow/tpu models/official/amoeba_net/model_builder.py
  (``_build_network_base``: a reduction cell inserted before the normal cell,
  the normal cell's previous input always ``cell_outputs[-2]``, i.e. slim's
  ``skip_reduction_layer_input=0``; stem conv of ``stem_reduction_size`` = 32
  filters; ``_build_aux_head`` scaled by ``aux_scaling``) and amoeba_net.py
  (flag defaults: ``aux_scaling=0.4``, ``drop_connect_keep_prob=1.0``,
  ``batch_norm_decay=0.9``, ``batch_norm_epsilon=1e-5``) [code]. One
  deviation, documented rather than built: the TPU code scales drop path by
  training progress only (its ``drop_connect_version='v1'``) where slim (and
  ``nasnet.cell.NasCell``) scales it by depth too (``v3``); the TPU flags train
  with drop path off, which is what ``PRESETS`` use, so the difference only
  matters for a run that turns it on.

Example:
    >>> from nasnet import skeletons
    >>> skeletons.get("pnasnet").reduction
    'strided_cell'
    >>> skeletons.get("pnasnet").num_cells(num_cells_per_stack=3, stem="imagenet")
    11
"""

from __future__ import annotations

import dataclasses

#: A reduction cell is inserted at each reduction position (NASNet, AmoebaNet).
REDUCTION_CELL = "reduction_cell"
#: The cell at each reduction position runs with stride 2 (PNASNet).
STRIDED_CELL = "strided_cell"
REDUCTIONS = (REDUCTION_CELL, STRIDED_CELL)
#: Reduction positions per network (slim ``num_reduction_layers``).
NUM_REDUCTIONS = 2
#: Cells of the ImageNet stem (slim ``_imagenet_stem``: ``num_stem_cells``).
NUM_IMAGENET_STEM_CELLS = 2


@dataclasses.dataclass(frozen=True)
class Skeleton:
    """How cells are stacked into a network (see the module docstring)."""

    name: str
    reduction: str
    aux_head_scaling: float
    source: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"skeleton name must be a non-empty string, got {self.name!r}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"skeleton reduction must be one of {REDUCTIONS}, "
                             f"got {self.reduction!r}")
        if (isinstance(self.aux_head_scaling, bool)
                or not isinstance(self.aux_head_scaling, (int, float))
                or not self.aux_head_scaling > 0):
            raise ValueError(f"skeleton aux_head_scaling must be a number > 0, "
                             f"got {self.aux_head_scaling!r}")

    def num_cells(self, num_cells_per_stack: int, stem: str) -> int:
        """Every cell of the network, stem cells included (slim ``total_num_cells``,
        the depth ScheduledDropPath scales by)."""
        cells = 3 * num_cells_per_stack
        if self.reduction == REDUCTION_CELL:
            cells += NUM_REDUCTIONS
        if stem == "imagenet":
            cells += NUM_IMAGENET_STEM_CELLS
        return cells


NASNET = Skeleton(
    name="nasnet", reduction=REDUCTION_CELL, aux_head_scaling=1.0,
    source="Zoph et al. 2018; tensorflow/models research/slim/nets/nasnet/nasnet.py")
PNASNET = Skeleton(
    name="pnasnet", reduction=STRIDED_CELL, aux_head_scaling=1.0,
    source="Liu et al. 2018; tensorflow/models research/slim/nets/nasnet/pnasnet.py")
AMOEBANET = Skeleton(
    name="amoebanet", reduction=REDUCTION_CELL, aux_head_scaling=0.4,
    source="Real et al. 2019; tensorflow/tpu models/official/amoeba_net/model_builder.py "
           "and amoeba_net.py")

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (NASNET, PNASNET, AMOEBANET)}


def get(name: str) -> Skeleton:
    """The skeleton called ``name``; ValueError listing the known ones otherwise."""
    if not isinstance(name, str) or name not in SKELETONS:
        raise ValueError(f"unknown network skeleton {name!r}; known: {sorted(SKELETONS)}")
    return SKELETONS[name]


def reduction_cell_indices(num_cells: int, num_reduction_layers: int = NUM_REDUCTIONS) -> list[int]:
    """slim ``calc_reduction_layers``: the reductions come before these cells of the stacks."""
    return [int(float(i) / (num_reduction_layers + 1) * num_cells)
            for i in range(1, num_reduction_layers + 1)]


@dataclasses.dataclass(frozen=True)
class CellStep:
    """One cell of a network, in build order.

    ``h`` and ``p`` index the outputs built so far (0: the stem's output, k:
    the output of step k - 1); ``p`` is None where the cell has no earlier
    input (slim's ``prev_layer=None``). ``scaling`` multiplies the base filters
    F; ``strides`` is 2 at a reduction. ``endpoint``: the output is its
    resolution's endpoint (the last cell there); ``aux``: the auxiliary head
    reads it (the last cell before the second reduction).
    """

    name: str
    kind: str  # "normal" or "reduction": which cell of the Genotype
    scaling: float
    strides: int
    h: int
    p: int | None
    endpoint: bool
    aux: bool = False


def stacking_plan(skeleton: str, stem: str, num_cells_per_stack: int,
                  filter_scaling_rate: float = 2.0,
                  skip_reduction_layer_input: bool = False) -> list[CellStep]:
    """The cells of a network and how they are wired: slim's ``_build_nasnet_base``
    (NASNet, AmoebaNet) or ``_build_pnasnet_base`` (PNASNet) loop, as data.

    Both the network builder (``nasnet.networks``) and the closed-form cost
    (``nasnet.cost``) walk this one plan, so they cannot disagree on a network.
    The ImageNet stem's two reduction cells come first (scaled 1/4 and 1/2).
    """
    kind = get(skeleton)
    steps: list[CellStep] = []
    outputs: list[int | None] = [None, 0]  # output indices; 0 is the stem's output

    def add(name: str, cell: str, scaling: float, strides: int, h: int,
            p: int | None, endpoint: bool) -> int:
        steps.append(CellStep(name, cell, scaling, strides, h, p, endpoint))
        return len(steps)

    net = 0
    scaling = 1.0
    if stem == "imagenet":
        scaling = 1.0 / filter_scaling_rate ** 2
        for i in range(NUM_IMAGENET_STEM_CELLS):
            net = add(f"stem_cell_{i}", "reduction", scaling, 2, net, outputs[-2], True)
            outputs.append(net)
            scaling *= filter_scaling_rate
        scaling = 1.0
    num_cells = 3 * num_cells_per_stack
    reductions = reduction_cell_indices(num_cells)
    prev: int | None = None
    for n in range(num_cells):
        if skip_reduction_layer_input:
            prev = outputs[-2]
        if n in reductions and kind.reduction == STRIDED_CELL:
            # pnasnet.py: the cell at a reduction position runs with stride 2; without
            # skip_reduction_layer_input its previous input stays the one of the cell before.
            scaling *= filter_scaling_rate
            net = add(f"cell_{n}", "reduction", scaling, 2, net, prev, True)
        else:
            if n in reductions:
                scaling *= filter_scaling_rate
                net = add(f"reduction_cell_{reductions.index(n)}", "reduction", scaling, 2,
                          net, outputs[-2], False)
                outputs.append(net)
            if not skip_reduction_layer_input:
                prev = outputs[-2]
            net = add(f"cell_{n}", "normal", scaling, 1, net, prev, True)
        outputs.append(net)
        if n == reductions[1] - 1:
            steps[-1] = dataclasses.replace(steps[-1], aux=True)
    return steps
