"""nasnet.cost: the closed-form mult-add count equals the traced count of the built network."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from nasnet import cell, cost, flops, known_genotypes, latency, networks, skeletons
from nasnet.genotype import Block, Cell, Combine, Genotype, Op

#: Every op of the space, concat and add blocks, a cell input in the concat, odd sizes.
EVERY_OP = Genotype(
    normal=Cell(blocks=(Block(0, Op.DIL_CONV_3X3, 1, Op.CONV_1X3_3X1),
                        Block(2, Op.CONV_1X7_7X1, 1, Op.CONV_3X3, Combine.CONCAT),
                        Block(3, Op.MAX_POOL_5X5, 0, Op.MAX_POOL_7X7),
                        Block(1, Op.CONV_1X1, 2, Op.IDENTITY)), concat=(1, 4, 5)),
    reduction=Cell(blocks=(Block(0, Op.DIL_CONV_3X3, 1, Op.CONV_1X7_7X1),
                           Block(1, Op.CONV_3X3, 0, Op.CONV_1X3_3X1, Combine.CONCAT),
                           Block(1, Op.AVG_POOL_3X3, 0, Op.IDENTITY),
                           Block(2, Op.SEP_CONV_7X7, 3, Op.CONV_1X1)), concat=(0, 1, 4, 5)))

#: NASNet-A Mobile, 4 @ 1056 at 224 px, as traced by nasnet.flops (the slim README: 564M).
NASNET_A_MOBILE_MULT_ADDS = 563_638_816


def traced(genotype: Genotype, target: cost.TargetNetwork) -> int:
    model = latency.inference_network(genotype, target)
    return flops.count_mult_adds(model, (target.image_size, target.image_size, 3))


@pytest.mark.parametrize("genotype,target", [
    # ImageNet stem at 45 px: maps of 22, 11, 6, 3 (odd sizes for the dilated conv).
    (EVERY_OP, cost.TargetNetwork(num_cells_per_stack=1, penultimate_filters=None,
                                  num_conv_filters=8, image_size=45, num_classes=7)),
    # CIFAR stem at 13 px, the stem multiplier, skip_reduction_layer_input, tiny filters
    # (the bottlenecks' C/4 < 1 path).
    (EVERY_OP, cost.TargetNetwork(stem="cifar", num_cells_per_stack=1, penultimate_filters=None,
                                  num_conv_filters=3, stem_multiplier=3.0, image_size=13,
                                  num_classes=5, skip_reduction_layer_input=True)),
    # Sized N @ P where 4 x width does not divide P (PNASNet-5 concatenates 5 states).
    (known_genotypes.PNASNET_5, cost.TargetNetwork(num_cells_per_stack=1, penultimate_filters=100,
                                                   image_size=37)),
    # The PNASNet skeleton (stride-2 normal cells at the reduction positions) and the
    # AmoebaNet one, with their published cells, small.
    (known_genotypes.PNASNET_5, cost.TargetNetwork(num_cells_per_stack=1, penultimate_filters=None,
                                                   num_conv_filters=8, image_size=33,
                                                   skeleton="pnasnet",
                                                   skip_reduction_layer_input=True)),
    (known_genotypes.AMOEBANET_A, cost.TargetNetwork(num_cells_per_stack=1,
                                                     penultimate_filters=None,
                                                     num_conv_filters=8, image_size=33,
                                                     skeleton="amoebanet")),
], ids=["every_op_imagenet_45px", "every_op_cifar_13px", "pnasnet_1@100_37px",
        "pnasnet_skeleton_33px", "amoebanet_skeleton_33px"])
def test_the_count_equals_the_traced_count(genotype, target):
    assert cost.mult_adds(genotype, target) == traced(genotype, target)


def test_nasnet_a_mobile_is_the_papers_564m():
    assert cost.mult_adds(known_genotypes.NASNET_A, cost.TargetNetwork()) \
        == NASNET_A_MOBILE_MULT_ADDS
    assert round(NASNET_A_MOBILE_MULT_ADDS / 1e6) == 564  # slim README


@pytest.mark.slow
@pytest.mark.parametrize("genotype", [known_genotypes.NASNET_A, known_genotypes.AMOEBANET_A])
def test_mobile_size_counts_equal_the_traced_counts(genotype):
    assert cost.mult_adds(genotype, cost.TargetNetwork()) \
        == traced(genotype, cost.TargetNetwork())
    if genotype is known_genotypes.NASNET_A:
        assert traced(genotype, cost.TargetNetwork()) == NASNET_A_MOBILE_MULT_ADDS


def test_the_defaults_are_nasnet_a_mobile_and_helpers_match_the_builder():
    assert cost.TargetNetwork() == cost.TargetNetwork.from_classifier_config(networks.MOBILE)
    assert cost.STEMS == networks.STEMS
    for n in (3, 6, 12, 18):
        assert skeletons.reduction_cell_indices(n) == networks.reduction_cell_indices(n)
    for g in known_genotypes.KNOWN.values():
        assert cost.output_channels(g.normal, 7) == cell.output_width(g.normal, 7)
    assert cost.TargetNetwork().filters_for(known_genotypes.NASNET_A) \
        == networks.base_filters(known_genotypes.NASNET_A, 1056) == 44
    large = cost.TargetNetwork.from_classifier_config(networks.LARGE)
    assert large.describe() == ("6@4032, imagenet stem x3, skip reduction input, 331 px, "
                                "1000 classes")
    descriptions = {t.describe() for t in (
        large, dataclasses.replace(large, stem_multiplier=1.0),
        dataclasses.replace(large, skip_reduction_layer_input=False),
        dataclasses.replace(large, filter_scaling_rate=1.5))}
    assert len(descriptions) == 4  # the records tell targets apart by it (reward.rerank)


def test_n_at_p_takes_the_widest_network_within_p():
    # PNASNet-5 concatenates 5 states: 1056 / 20 = 52.8 -> F = 52 (P' = 1040).
    assert cost.TargetNetwork().filters_for(known_genotypes.PNASNET_5) == 52
    assert cost.TargetNetwork(num_cells_per_stack=4, penultimate_filters=None,
                              num_conv_filters=50).filters_for(known_genotypes.PNASNET_5) == 50
    with pytest.raises(ValueError, match="network size 4@16 is too narrow for a normal cell "
                                         "that concatenates 5 states"):
        cost.TargetNetwork(penultimate_filters=16).filters_for(known_genotypes.PNASNET_5)


def test_a_network_too_narrow_to_build_is_refused():
    # F = 4: the first ImageNet stem cell has int(4 / 4) = 1 filter, and EVERY_OP's
    # reduction cell concatenates its inputs through factorized reductions, which split
    # their filters in two (nasnet.layers.FactorizedReduction; Keras refuses 0 filters).
    narrow = cost.TargetNetwork(num_cells_per_stack=1, penultimate_filters=None,
                                num_conv_filters=4, image_size=32)
    with pytest.raises(ValueError, match="a factorized reduction to 1 filter"):
        cost.mult_adds(EVERY_OP, narrow)
    with pytest.raises(ValueError, match="strictly positive"):  # the builder fails alike
        latency.inference_network(EVERY_OP, narrow)
    narrower = dataclasses.replace(narrow, num_conv_filters=2)
    with pytest.raises(ValueError, match="a cell with 0 filters cannot be built"):
        cost.mult_adds(known_genotypes.NASNET_A, narrower)
    with pytest.raises(ValueError, match="filters must be a positive int, got 0"):
        latency.inference_network(known_genotypes.NASNET_A, narrower)


def test_parse_target_size():
    assert cost.parse_target_size("4@1056") == {"num_cells_per_stack": 4,
                                                "penultimate_filters": 1056,
                                                "num_conv_filters": None}
    assert cost.parse_target_size(" 3@F54 ") == {"num_cells_per_stack": 3,
                                                 "penultimate_filters": None,
                                                 "num_conv_filters": 54}
    for bad in ("4x1056", "@1056", "4@", "4@f44", None):
        with pytest.raises(ValueError, match="network size must look like 'N@P' or"):
            cost.parse_target_size(bad)


@pytest.mark.parametrize("fields,message", [
    ({"stem": "tpu"}, "stem must be one of"),
    ({"skeleton": "resnet"}, "unknown network skeleton 'resnet'"),
    ({"num_cells_per_stack": 0}, "num_cells_per_stack must be an int >= 1, got 0"),
    ({"num_conv_filters": 44}, "exactly one of penultimate_filters and num_conv_filters"),
    ({"penultimate_filters": None}, "exactly one of penultimate_filters and num_conv_filters"),
    ({"penultimate_filters": 0}, "penultimate_filters must be an int >= 1, got 0"),
    ({"penultimate_filters": None, "num_conv_filters": True}, "num_conv_filters must be an int"),
    ({"stem_multiplier": 0.0}, "stem_multiplier must be a number > 0, got 0.0"),
    ({"filter_scaling_rate": float("nan")}, "filter_scaling_rate must be a number > 0"),
    ({"skip_reduction_layer_input": 1}, "skip_reduction_layer_input must be true or false"),
    ({"image_size": 4}, "image_size must be an int >= 8, got 4"),
    ({"num_classes": 0}, "num_classes must be an int >= 1, got 0"),
])
def test_bad_target_networks_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        cost.TargetNetwork(**fields)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="genotype must be a Genotype, got str"):
        cost.mult_adds("nasnet_a", cost.TargetNetwork())
    with pytest.raises(ValueError, match="target must be a TargetNetwork, got ClassifierConfig"):
        cost.mult_adds(known_genotypes.NASNET_A, networks.MOBILE)


def test_the_cache_is_keyed_by_fingerprint():
    cost._CACHE.clear()
    g = known_genotypes.NASNET_A
    renamed = g.with_name("another listing")
    target = cost.TargetNetwork()
    assert cost.cached_mult_adds(g, target) == cost.cached_mult_adds(renamed, target) \
        == NASNET_A_MOBILE_MULT_ADDS
    assert list(cost._CACHE) == [(g.fingerprint(), target)]
    smaller = dataclasses.replace(target, image_size=112)
    assert cost.cached_mult_adds(g, smaller) < NASNET_A_MOBILE_MULT_ADDS
    assert len(cost._CACHE) == 2


def test_importing_the_counter_imports_no_tensorflow():
    code = ("import sys; from nasnet import cost, known_genotypes; "
            "cost.mult_adds(known_genotypes.NASNET_A); print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
