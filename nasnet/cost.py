"""Mult-adds of the network a cell will become, counted in closed form (no TensorFlow).

A search scores cells on small children, but a cell is deployed in a larger
network: NASNet-A Mobile is 4 @ 1056 at 224 px, 564M mult-adds (Zoph et al.
2018, Table 2; the slim README). ``mult_adds(genotype, TargetNetwork())``
counts that network's mult-adds from shapes alone, op by op, in microseconds,
so that a search can put the cost of every child into its reward (MnasNet,
Tan et al. 2019) without building or tracing anything.

Why not ``nasnet.flops.count_mult_adds``: it builds the Keras network and
traces its graph, tens of seconds for a 224 px network on 2 CPU cores, once
per cell of a search that proposes thousands. This module follows exactly the
layers ``nasnet.networks.build_classifier`` builds (``nasnet/ops.py``,
``nasnet/layers.py``, ``nasnet/cell.py``, ``nasnet/networks.py``) and counts
what the traced counter counts, so the two agree exactly
(``tests/nasnet/test_cost.py`` compares them on every op, both stems, odd
sizes and NASNet-A Mobile):

* a convolution ``[1, Ho, Wo, C_out]`` with a ``kh x kw`` kernel over
  ``C_in`` channels: ``Ho Wo C_out kh kw C_in``; 'same' padding counts every
  kernel tap, as TensorFlow's profiler does;
* a depthwise convolution: ``Ho Wo C kh kw``; a separable convolution is a
  depthwise then a 1x1 convolution;
* a dilated 3x3 convolution (``dil_conv_3x3``, dilation 2, 'same'): TensorFlow
  runs it as space-to-batch, a VALID convolution and batch-to-space; the
  convolution computes ``2 ceil(H/2) x 2 ceil(W/2)`` outputs, one more row and
  column than the map when H is odd, and the count follows;
* the dense layer: ``C_in C_out``; pooling, batch norm, ReLU, additions,
  concatenations and the slicing of a factorized reduction: none.

The inference network is counted (no auxiliary head), at batch size 1, as the
papers count it. Shapes are ``[batch, height, width, channels]``; images are
square.

**Size.** ``TargetNetwork`` is sized as ``N @ P`` (``penultimate_filters``) or
by the base filters ``F`` (``num_conv_filters``). ``N @ P`` gives
``F = P / (4 w)`` where ``w`` is the number of states the normal cell
concatenates (``nasnet.networks.base_filters``); for a searched cell whose
``4 w`` does not divide P, this module takes the widest network whose
penultimate layer has at most P filters, ``F = floor(P / (4 w))``, and
``filters_for`` says which F it used (``nasnet.networks`` itself refuses such
a P; build that network with ``num_conv_filters=F``).

Example:
    >>> from nasnet import cost, known_genotypes
    >>> cost.mult_adds(known_genotypes.NASNET_A, cost.TargetNetwork())   # 4 @ 1056, 224 px
    563638816
    >>> cost.TargetNetwork(num_cells_per_stack=2, penultimate_filters=None,
    ...                    num_conv_filters=16, stem="cifar", image_size=32,
    ...                    num_classes=10).describe()
    '2@F16, cifar stem, 32 px, 10 classes'
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from nasnet import skeletons
from nasnet.genotype import Cell, Combine, Genotype, Op

STEMS = ("cifar", "imagenet")  # nasnet.networks.STEMS (checked equal in the tests)

_SEPARABLE_KERNEL = {Op.SEP_CONV_3X3: 3, Op.SEP_CONV_5X5: 5, Op.SEP_CONV_7X7: 7}
_POOLS = (Op.AVG_POOL_3X3, Op.MAX_POOL_3X3, Op.MAX_POOL_5X5, Op.MAX_POOL_7X7)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class TargetNetwork:
    """The classifier a cell becomes, as far as its mult-adds depend on it.

    The fields are those of ``nasnet.networks.ClassifierConfig`` and its
    ``BackboneConfig`` that change the count; the defaults are NASNet-A
    Mobile's (slim ``mobile_imagenet_config``): 4 @ 1056, ImageNet stem, 224 px,
    1000 classes. Exactly one of ``penultimate_filters`` (P) and
    ``num_conv_filters`` (F) is set.
    """

    stem: str = "imagenet"
    num_cells_per_stack: int = 4
    penultimate_filters: int | None = 1056
    num_conv_filters: int | None = None
    stem_multiplier: float = 1.0
    filter_scaling_rate: float = 2.0
    skip_reduction_layer_input: bool = False
    image_size: int = 224
    num_classes: int = 1000
    skeleton: str = "nasnet"  # how cells are stacked (nasnet.skeletons)

    def __post_init__(self):
        skeletons.get(self.skeleton)  # ValueError listing the known skeletons
        if self.stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {self.stem!r}")
        _check_int("num_cells_per_stack", self.num_cells_per_stack, 1)
        if (self.penultimate_filters is None) == (self.num_conv_filters is None):
            raise ValueError(
                f"exactly one of penultimate_filters and num_conv_filters must be set, got "
                f"{self.penultimate_filters!r} and {self.num_conv_filters!r}")
        if self.penultimate_filters is not None:
            _check_int("penultimate_filters", self.penultimate_filters, 1)
        if self.num_conv_filters is not None:
            _check_int("num_conv_filters", self.num_conv_filters, 1)
        for name in ("stem_multiplier", "filter_scaling_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a number > 0, got {value!r}")
        if not isinstance(self.skip_reduction_layer_input, bool):
            raise ValueError(f"skip_reduction_layer_input must be true or false, "
                             f"got {self.skip_reduction_layer_input!r}")
        _check_int("image_size", self.image_size, 8)  # nasnet.networks.ClassifierConfig's bound
        _check_int("num_classes", self.num_classes, 1)

    @classmethod
    def from_classifier_config(cls, config: Any) -> "TargetNetwork":
        """The target of a ``nasnet.networks.ClassifierConfig`` (read by attribute)."""
        b = config.backbone
        return cls(stem=b.stem, num_cells_per_stack=b.num_cells_per_stack,
                   penultimate_filters=None if b.num_conv_filters is not None
                   else b.penultimate_filters,
                   num_conv_filters=b.num_conv_filters, stem_multiplier=b.stem_multiplier,
                   filter_scaling_rate=b.filter_scaling_rate,
                   skip_reduction_layer_input=b.skip_reduction_layer_input,
                   image_size=config.image_size, num_classes=config.num_classes,
                   skeleton=b.skeleton)

    @property
    def size(self) -> str:
        """``"N@P"``, or ``"N@F<filters>"`` (as ``BackboneConfig.size``)."""
        if self.num_conv_filters is not None:
            return f"{self.num_cells_per_stack}@F{self.num_conv_filters}"
        return f"{self.num_cells_per_stack}@{self.penultimate_filters}"

    def describe(self) -> str:
        """One line that tells targets apart, e.g. ``"4@1056, imagenet stem, 224 px, 1000
        classes"``; fields that differ from their defaults are named."""
        parts = [self.size, f"{self.stem} stem"]
        if self.skeleton != "nasnet":
            parts.insert(0, f"{self.skeleton} skeleton")
        if self.stem_multiplier != 1.0:
            parts[-1] += f" x{self.stem_multiplier:g}"
        if self.filter_scaling_rate != 2.0:
            parts.append(f"filter scaling {self.filter_scaling_rate:g}")
        if self.skip_reduction_layer_input:
            parts.append("skip reduction input")
        return ", ".join(parts + [f"{self.image_size} px", f"{self.num_classes} classes"])

    def filters_for(self, genotype: Genotype) -> int:
        """The first stack's base filters F for ``genotype`` (see the module docstring)."""
        if self.num_conv_filters is not None:
            return self.num_conv_filters
        width = output_channels(genotype.normal, 1)
        filters = self.penultimate_filters // (4 * width)
        if filters < 1:
            raise ValueError(
                f"network size {self.size} is too narrow for a normal cell that "
                f"concatenates {width} states: P must be at least 4 x {width}")
        return filters

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_target_size(size: str) -> dict[str, int | None]:
    """``"4@1056"`` or ``"4@F44"`` as ``TargetNetwork`` fields (``num_cells_per_stack``
    and one of ``penultimate_filters`` / ``num_conv_filters``); ValueError naming it."""
    match = re.fullmatch(r"\s*(\d+)\s*@\s*(F?)(\d+)\s*", size) if isinstance(size, str) else None
    if not match:
        raise ValueError(f"network size must look like 'N@P' or 'N@F<filters>' "
                         f"(e.g. '4@1056', '4@F44'), got {size!r}")
    n, by_filters, value = int(match.group(1)), bool(match.group(2)), int(match.group(3))
    return {"num_cells_per_stack": n,
            "penultimate_filters": None if by_filters else value,
            "num_conv_filters": value if by_filters else None}


# -- shapes and per-layer counts ------------------------------------------------
def _out(size: int, stride: int) -> int:
    """'same' padding: ``ceil(size / stride)``."""
    return -(-size // stride)


def output_channels(cell: Cell, filters: int) -> int:
    """Channels of a cell's output (``nasnet.cell.output_width``)."""
    widths = [filters, filters] + [2 * filters if b.combine is Combine.CONCAT else filters
                                   for b in cell.blocks]
    return sum(widths[i] for i in cell.concat)


def _conv(out_size: int, out_channels: int, kernel: int, in_channels: int) -> int:
    return out_size * out_size * out_channels * kernel * in_channels


def _factorized_reduction(size: int, in_channels: int, filters: int, stride: int) -> int:
    """``FactorizedReduction``: two 1x1 convs of half the filters each (stride 2) or one."""
    if stride == 2 and filters < 2:
        raise ValueError(f"a factorized reduction to {filters} filter(s) cannot be built "
                         f"(two paths of half the filters each): the network is too narrow")
    return _conv(_out(size, stride), filters, 1, in_channels)


def op_mult_adds(op: Op, size: int, in_channels: int, filters: int, stride: int) -> int:
    """Mult-adds of ``nasnet.ops.make_op(op, filters, stride, in_channels)`` on a
    ``[1, size, size, in_channels]`` input."""
    out = _out(size, stride)
    if op in _SEPARABLE_KERNEL:  # SeparableStack: two (depthwise k x k, pointwise 1x1)
        k2 = _SEPARABLE_KERNEL[op] ** 2
        return out * out * (in_channels * k2 + in_channels * filters + filters * k2
                            + filters * filters)
    if op is Op.IDENTITY:
        return _conv(out, filters, 1, in_channels) if stride > 1 or in_channels != filters else 0
    if op in _POOLS:
        return _conv(out, filters, 1, in_channels) if in_channels != filters else 0
    if op is Op.CONV_1X1:
        return _conv(out, filters, 1, in_channels)
    # BottleneckConv (the AmoebaNet reference's plain convolutions).
    reduced = int(3 * filters / 8) if op is Op.CONV_1X3_3X1 else int(filters / 4)
    bottleneck = reduced >= 1
    inner = reduced if bottleneck else filters
    total, channels = 0, in_channels
    if bottleneck:
        total += _conv(size, inner, 1, in_channels)
        channels = inner
    if op is Op.CONV_3X3:
        total += _conv(out, inner, 9, channels)
    elif op is Op.DIL_CONV_3X3:
        # Stride 1, dilation 2: space-to-batch pads to an even size, so the VALID
        # convolution has 2 ceil(size / 2) outputs per axis; then subsampled.
        total += _conv(2 * _out(size, 2), inner, 9, channels)
    else:  # 1xk (stride on the width) then kx1 (stride on the height)
        k = 3 if op is Op.CONV_1X3_3X1 else 7
        total += size * out * inner * k * channels + out * out * inner * k * inner
    if bottleneck:
        total += _conv(out, filters, 1, inner)
    return total


@dataclasses.dataclass(frozen=True)
class _Tensor:
    size: int      # height = width
    channels: int
    stride: int    # relative to the image, to wire the previous-layer reduction


def cell_mult_adds(cell: Cell, filters: int, strides: int, h: _Tensor,
                   p: _Tensor | None) -> tuple[int, _Tensor]:
    """Mult-adds of one ``nasnet.cell.NasCell`` and its output tensor."""
    if filters < 1:
        raise ValueError(f"a cell with {filters} filters cannot be built: the network is "
                         f"too narrow")
    total = 0
    if p is None:  # the first cell after the stem: p is h itself, unadjusted
        state1 = (h.size, h.channels)
    elif p.stride != h.stride:  # ReLU + factorized reduction
        total += _factorized_reduction(p.size, p.channels, filters, 2)
        state1 = (_out(p.size, 2), filters)
    elif p.channels != filters:  # ReLU-1x1 conv-BN
        total += _conv(p.size, filters, 1, p.channels)
        state1 = (p.size, filters)
    else:
        state1 = (p.size, p.channels)
    total += _conv(h.size, filters, 1, h.channels)  # "beginning": ReLU-1x1 conv-BN
    out_size = _out(h.size, strides)
    states = [(h.size, filters), state1]
    for block in cell.blocks:
        for index, op in zip(block.inputs, block.ops):
            size, channels = states[index]
            total += op_mult_adds(op, size, channels, filters, strides if index < 2 else 1)
        states.append((out_size, 2 * filters if block.combine is Combine.CONCAT else filters))
    out_channels = 0
    for index in cell.concat:
        size, channels = states[index]
        if index < 2 and (strides == 2 or channels != filters):
            total += _factorized_reduction(size, channels, filters, strides)
            channels = filters
        out_channels += channels
    return total, _Tensor(out_size, out_channels, h.stride * strides)


def mult_adds(genotype: Genotype, target: TargetNetwork = TargetNetwork()) -> int:
    """Mult-adds of ``genotype``'s inference network at ``target`` for one image.

    Equal to ``nasnet.flops.count_mult_adds`` of
    ``networks.inference_model(networks.build_classifier(genotype, config))``
    where ``config`` is ``target`` with ``num_conv_filters=target.filters_for(genotype)``.
    """
    if not isinstance(genotype, Genotype):
        raise ValueError(f"genotype must be a Genotype, got {type(genotype).__name__}")
    if not isinstance(target, TargetNetwork):
        raise ValueError(f"target must be a TargetNetwork, got {type(target).__name__}")
    return _mult_adds(genotype.normal, genotype.reduction, target)


#: (fingerprint, target) -> mult-adds, for ``cached_mult_adds``; emptied when full.
_CACHE: dict[tuple[str, TargetNetwork], int] = {}
_CACHE_SIZE = 100_000


def cached_mult_adds(genotype: Genotype, target: TargetNetwork = TargetNetwork()) -> int:
    """``mult_adds``, cached in this process by ``(genotype.fingerprint(), target)``
    (every genotype with one fingerprint builds the same network)."""
    key = (genotype.fingerprint(), target)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = mult_adds(genotype, target)
    return _CACHE[key]


def _mult_adds(normal: Cell, reduction: Cell, target: TargetNetwork) -> int:
    filters = target.filters_for(Genotype(normal=normal, reduction=reduction))
    size = target.image_size
    total = 0

    def cell(h: _Tensor, p: _Tensor | None, cell_def: Cell, scaling: float,
             strides: int) -> _Tensor:
        nonlocal total
        madds, out = cell_mult_adds(cell_def, int(filters * scaling), strides, h, p)
        total += madds
        return out

    if target.stem == "imagenet":  # 3x3 stride-2 VALID conv (its two cells are in the plan)
        stem_filters = int(32 * target.stem_multiplier)
        stem_size = (size - 3) // 2 + 1
        total += _conv(stem_size, stem_filters, 9, 3)
        net = _Tensor(stem_size, stem_filters, 2)
    else:  # 3x3 'same' conv
        stem_filters = int(filters * target.stem_multiplier)
        total += _conv(size, stem_filters, 9, 3)
        net = _Tensor(size, stem_filters, 1)

    outputs = [net]  # the stem's output, then every cell's (skeletons.stacking_plan)
    for step in skeletons.stacking_plan(target.skeleton, target.stem,
                                        target.num_cells_per_stack, target.filter_scaling_rate,
                                        target.skip_reduction_layer_input):
        net = cell(outputs[step.h], None if step.p is None else outputs[step.p],
                   normal if step.kind == "normal" else reduction, step.scaling, step.strides)
        outputs.append(net)
    return total + net.channels * target.num_classes  # the logits layer
