"""Published models built exactly: skeletons, presets, counts against the published figures.

Full-size Large builds (331 px) are slow; the Mobile ones (224 px) take seconds
and run by default, and ``test_large_presets_build_at_a_small_size`` runs the
Large tests' code path (preset, skeleton, aux head, counters) at a tiny size.
"""

import dataclasses

import pytest
import tensorflow as tf

from nasnet import config_utils, flops, known_genotypes, networks, published, skeletons
from nasnet.cell import nas_cells

LARGE_MODELS = [m for m in published.MODELS.values()
                if m.kind == published.CELL and m.name.endswith("_large")]


def _counts(model_info: published.PublishedModel, count_mult_adds: bool = True):
    config = dataclasses.replace(networks.PRESETS[model_info.preset], use_aux_head=False)
    model = networks.build_classifier(known_genotypes.get(model_info.architecture), config)
    trainable = sum(int(w.shape.num_elements()) for w in model.trainable_weights)
    size = model_info.image_size
    mult_adds = flops.count_mult_adds(model, (size, size, 3)) if count_mult_adds else None
    return model.count_params(), trainable, mult_adds


def _check_against_published(info: published.PublishedModel, total: int, trainable: int,
                             mult_adds: int) -> None:
    assert total == info.ours_parameters
    assert mult_adds == info.ours_mult_adds
    counted = trainable if info.parameters_counted == "trainable" else total
    # Published parameters are rounded to 0.1M (or exact, when they come from code).
    assert round(counted / 1e5) == round(info.parameters.value / 1e5)
    # Published mult-adds are rounded to 3 significant digits; PNASNet-5's paper counts
    # 0.1-0.3 % more than our counter (and slim's README for NASNet-A) would: within 0.5 %.
    assert abs(mult_adds - info.mult_adds.value) <= 0.005 * info.mult_adds.value


@pytest.mark.parametrize("name", ["pnasnet_5_mobile", pytest.param(
    "amoebanet_a_mobile", marks=pytest.mark.slow)])   # NASNet's path, already tested by default
def test_mobile_models_match_their_published_sizes(name):
    info = published.get(name)
    _check_against_published(info, *_counts(info))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nasnet_a_large", "pnasnet_5_large", "amoebanet_a_large"])
def test_large_models_match_their_published_sizes(name):
    info = published.get(name)
    total, trainable, mult_adds = _counts(info)
    if name == "pnasnet_5_large":
        # timm's pnasnet5large, a port of slim's released checkpoint: exact.
        assert (total, trainable) == (86_234_656, 86_057_668)
    if info.ours_mult_adds is None:
        info = dataclasses.replace(info, ours_mult_adds=mult_adds)
    _check_against_published(info, total, trainable, mult_adds)


@pytest.mark.parametrize("info", LARGE_MODELS, ids=lambda m: m.name)
def test_large_presets_build_at_a_small_size(info):
    """The code path of the slow full-size tests (preset, skeleton, aux head, counters)."""
    genotype = known_genotypes.get(info.architecture)
    preset = networks.PRESETS[info.preset]
    assert preset.backbone.skeleton == known_genotypes.SKELETON_OF[info.architecture]
    assert preset.image_size == info.image_size == 331
    width = len(genotype.normal.concat)
    config = config_utils.override(preset, {"backbone.num_cells_per_stack": 1,
                                            "backbone.penultimate_filters": 4 * width * 4,
                                            "image_size": 96, "num_classes": 5})
    model = networks.build_classifier(genotype, config)
    out = model(tf.zeros([1, 96, 96, 3]), training=True)
    assert out["logits"].shape == (1, 5) and out["aux_logits"].shape == (1, 5)
    scaling = skeletons.get(preset.backbone.skeleton).aux_head_scaling
    assert model.get_layer("aux_proj").filters == int(128 * scaling)
    assert model.get_layer("aux_conv").filters == int(768 * scaling)
    inference = networks.inference_model(model)
    assert inference.count_params() < model.count_params()
    if info.name == "pnasnet_5_large":  # the counter's path, once (it traces the model)
        assert flops.count_mult_adds(inference, (96, 96, 3)) > 0


def test_pnasnet_skeleton_strides_its_cell_and_adds_no_reduction_cells():
    # slim pnasnet.py: 3 N cells in all, the cells at calc_reduction_layers(3 N) run
    # with stride 2 and read the cell two back (skip_reduction_layer_input=1).
    config = config_utils.override(networks.PNASNET_MOBILE.backbone,
                                   {"num_cells_per_stack": 2, "penultimate_filters": 80})
    backbone = networks.build_backbone(known_genotypes.PNASNET_5, config, 64)
    cells = nas_cells(backbone)
    assert [c.name for c in cells] == ["stem_cell_0", "stem_cell_1"] + [
        f"cell_{n}" for n in range(6)]
    assert [c.strides for c in cells] == [2, 2, 1, 1, 2, 1, 2, 1]
    assert config.total_cells == len(cells) == 8
    assert {c.total_cells for c in cells} == {8}
    assert [c.cell_index for c in cells] == list(range(8))
    f = networks.base_filters(known_genotypes.PNASNET_5, 80)
    assert f == 4
    # 64 px: stem conv 31, stem cells 16, 8; stacks at 8, 4, 2.
    assert {k: tuple(v) for k, v in backbone.output_specs.items()} == {
        "1": (None, 31, 31, 32), "2": (None, 16, 16, 5 * f // 4), "3": (None, 8, 8, 5 * f),
        "4": (None, 4, 4, 5 * 2 * f), "5": (None, 2, 2, 5 * 4 * f)}
    assert backbone.aux_level == "4"
    # The strided cell_2 reads cell_1 and cell_0 (both at 8 px); cell_3 reads cell_1.
    assert backbone.get_layer("cell_2").input[1].name.startswith("cell_0")
    assert backbone.get_layer("cell_3").input[1].name.startswith("cell_1")


def test_pnasnet_skeleton_without_skip_keeps_the_previous_cells_input():
    # pnasnet.py leaves prev_layer unchanged at a reduction when skip_reduction_layer_input
    # is 0: the strided cell_2 reads what cell_1 read (stem_cell_1), not cell_1's own input.
    config = config_utils.override(networks.PNASNET_MOBILE.backbone,
                                   {"num_cells_per_stack": 2, "penultimate_filters": 80,
                                    "skip_reduction_layer_input": False})
    backbone = networks.build_backbone(known_genotypes.PNASNET_5, config, 64)
    assert backbone.get_layer("cell_1").input[1].name.startswith("stem_cell_1")
    assert backbone.get_layer("cell_2").input[1].name.startswith("stem_cell_1")
    assert backbone.get_layer("cell_3").input[1].name.startswith("cell_1")
    assert config.total_cells == len(nas_cells(backbone)) == 8


def test_nasnet_and_amoebanet_skeletons_insert_reduction_cells():
    for skeleton in ("nasnet", "amoebanet"):
        config = networks.BackboneConfig(skeleton=skeleton, stem="cifar",
                                         num_cells_per_stack=1, num_conv_filters=4)
        cells = nas_cells(networks.build_backbone(known_genotypes.AMOEBANET_A, config, 16))
        assert [c.name for c in cells] == ["cell_0", "reduction_cell_0", "cell_1",
                                           "reduction_cell_1", "cell_2"]
        assert config.total_cells == 5


def test_skeletons_are_validated_and_listed():
    with pytest.raises(ValueError, match=r"unknown network skeleton 'resnet'; known: "
                                         r"\['amoebanet', 'nasnet', 'pnasnet'\]"):
        networks.BackboneConfig(skeleton="resnet")
    with pytest.raises(ValueError, match="skeleton reduction must be one of"):
        skeletons.Skeleton("x", "pooled", 1.0, "here")
    with pytest.raises(ValueError, match="aux_head_scaling must be a number > 0, got 0"):
        skeletons.Skeleton("x", skeletons.STRIDED_CELL, 0, "here")
    with pytest.raises(ValueError, match="skeleton name must be a non-empty string"):
        skeletons.Skeleton("", skeletons.STRIDED_CELL, 1.0, "here")
    assert set(known_genotypes.SKELETON_OF.values()) == set(skeletons.SKELETONS)
    assert set(known_genotypes.SKELETON_OF) == set(known_genotypes.KNOWN)


def test_published_records_are_validated_and_listed():
    with pytest.raises(ValueError, match=r"unknown published model 'pnasnet'; known: \["):
        published.get("pnasnet")
    with pytest.raises(ValueError, match="figure confidence must be one of"):
        published.Figure(1.0, "somewhere", "sure")
    with pytest.raises(ValueError, match="a published figure must be a number, got True"):
        published.Figure(True, "somewhere", "code")
    with pytest.raises(ValueError, match="needs its source"):
        published.Figure(1.0, "", "code")
    figure = published.Figure(1.0, "a paper", "unverified")
    assert figure.label() == "[unverified] a paper"
    good = published.get("resnet50")
    with pytest.raises(ValueError, match="a cell model names its network preset"):
        dataclasses.replace(good, preset="mobile")
    with pytest.raises(ValueError, match="kind must be"):
        dataclasses.replace(good, kind="searched")
    with pytest.raises(ValueError, match="parameters_counted must be"):
        dataclasses.replace(good, parameters_counted="some")
    assert [m.name for m in published.of_architecture("pnasnet_5")] == [
        "pnasnet_5_mobile", "pnasnet_5_large"]
    for info in published.MODELS.values():
        assert info.kind == published.HAND_DESIGNED or info.preset in networks.PRESETS
