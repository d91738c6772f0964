"""benchmarks/compare_models.py: arguments, sizing, tables and resume in the default suite;
the whole comparison at its --tiny size behind the slow marker (the real measurement is
the script's own command line, on a quiet machine)."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks import compare_models as cm


def _args(*extra: str):
    return cm.build_parser().parse_args(["--output_dir=unused", *extra])


def test_models_default_to_all_and_searched_needs_a_workdir(tmp_path):
    assert cm.parse_models("", None) == ("nasnet_a", "pnasnet_5", "amoebanet_a", "resnet50",
                                         "inception_resnet_v2")
    assert "searched" in cm.parse_models("", str(tmp_path))
    with pytest.raises(ValueError, match=r"unknown model\(s\) \['vgg16'\]; known: \["):
        cm.parse_models("nasnet_a,vgg16", None)
    with pytest.raises(ValueError, match="model 'searched' needs --search_workdir"):
        cm.parse_models("searched", None)
    with pytest.raises(ValueError, match="named twice"):
        cm.parse_models("resnet50,resnet50", None)
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['segmentation'\]"):
        cm.parse_tasks("classification,segmentation")


def test_settings_are_checked_before_anything_runs():
    settings = cm.settings_from_args(_args("--models=nasnet_a,resnet50", "--tiny"))
    assert settings.classification_steps == cm.TINY["classification_steps"] and settings.tiny
    with pytest.raises(ValueError, match="--classification_steps must be even"):
        cm.settings_from_args(_args("--classification_steps=7"))
    with pytest.raises(ValueError, match="--image_size 16 is below ResNet-50's minimum of 32"):
        cm.settings_from_args(_args("--image_size=16"))
    assert cm.settings_from_args(_args("--image_size=16", "--models=nasnet_a")).image_size == 16
    with pytest.raises(ValueError, match="--detection_steps must be >= 1, got 0"):
        cm.settings_from_args(_args("--detection_steps=0"))
    with pytest.raises(ValueError, match="--target_mult_adds must be >= 1"):
        cm.settings_from_args(_args("--target_mult_adds=0"))


def test_bad_arguments_exit_2_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        cm.main([f"--output_dir={out}", "--models=nasnet_a,vgg16"])
    assert exit_info.value.code == 2
    assert "unknown model(s) ['vgg16']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cm.main([f"--output_dir={out}", f"--search_workdir={tmp_path / 'missing'}"])
    assert "cannot resolve genotype" in capsys.readouterr().err
    assert not out.exists()


def test_sizing_rescales_filters_by_the_square_root():
    counted = []

    def quadratic(filters: int) -> int:
        counted.append(filters)
        return 1000 * filters * filters

    assert cm.size_to_target(quadratic, 64_000, start=4) == (8, 64_000)
    assert counted == [4, 8]
    assert cm.size_to_target(quadratic, 16_000, start=4) == (4, 16_000)   # already there
    assert cm.size_to_target(quadratic, 10, start=4) == (2, 4_000)        # the smallest F

    def stem_heavy(filters: int) -> int:   # a linear term: one square-root step falls short
        return 100_000 * filters + 1000 * filters * filters

    filters, reached = cm.size_to_target(stem_heavy, 5_000_000, start=4)
    assert abs(reached / 5_000_000 - 1) <= 0.05 and filters == 36


def test_each_cell_is_wired_as_published_and_a_searched_one_as_the_children():
    assert cm.wiring_of("pnasnet_5") == {"skeleton": "pnasnet",
                                         "skip_reduction_layer_input": True}
    assert cm.wiring_of("amoebanet_a") == {"skeleton": "amoebanet",
                                           "skip_reduction_layer_input": False}
    assert cm.wiring_of("nasnet_a") == cm.wiring_of("searched") == {
        "skeleton": "nasnet", "skip_reduction_layer_input": False}


def _results():
    return [
        {"model": "nasnet_a", "task": "classification", "size": "2 @ F12, nasnet skeleton",
         "image_size": 32, "parameters": 123_456, "mult_adds": 80_000_000, "top1": 0.9,
         "images_per_second": 55.5},
        {"model": "resnet50", "task": "classification", "size": "its only size",
         "image_size": 32, "parameters": 23_600_000, "mult_adds": 84_000_000, "top1": 0.8,
         "images_per_second": None},
        {"model": "resnet50", "task": "detection", "backbone": "resnet 50 (official.vision)",
         "size": "its only size", "image_size": 128, "parameters": 23_500_000,
         "mult_adds": 1_300_000_000, "detector_parameters": 25_000_000, "AP": 0.5,
         "AP50": 0.8, "steps_per_second": 0.5, "batch_size": 8}]


def test_tables_hold_ours_and_the_labelled_published_figures():
    settings = cm.Settings(models=("nasnet_a", "resnet50", "inception_resnet_v2"),
                           tasks=cm.TASKS, search_workdir=None)
    table = cm.format_tables(_results(), settings)
    assert "| nasnet_a | 2 @ F12, nasnet skeleton | 32 px | 0.12M | 80.0M | 0.900 | 55.5 |" in table
    assert "| resnet50 | its only size | 32 px | 23.60M | 84.0M | 0.800 | - |" in table
    assert ("| resnet50 | resnet 50 (official.vision), its only size | 128 px | 23.50M | "
            "1,300.0M | 25.00M | 0.500 | 0.800 | 4.0 |") in table
    assert "| inception_resnet_v2 | - |" in table and "no official.vision backbone" in table
    assert "Published ImageNet figures (the papers' and their code's, not ours)" in table
    assert "| nasnet_a_mobile | N = 4, F = 44 (4 @ 1056) | 224 px | 5.3M [code] | 564M [code] " \
           "| 74.0% [code] |" in table
    assert "13,200M [unverified]" in table                         # Inception-ResNet-v2
    assert "pnasnet" not in table                                  # only the compared models


def test_plot_is_written(tmp_path):
    settings = cm.Settings(models=("nasnet_a", "resnet50"), tasks=cm.TASKS, search_workdir=None)
    cm.plot(_results(), settings, str(tmp_path / "comparison.png"))
    assert (tmp_path / "comparison.png").stat().st_size > 10_000
    assert os.listdir(tmp_path) == ["comparison.png"]


def test_a_resumed_comparison_must_keep_its_settings(tmp_path):
    settings = cm.Settings(models=("nasnet_a",), tasks=("classification",), search_workdir=None)
    cm._load_or_write_settings(str(tmp_path), settings)
    cm._load_or_write_settings(str(tmp_path), settings)               # the same: fine
    with open(tmp_path / "settings.json", encoding="utf-8") as f:
        assert json.load(f)["models"] == ["nasnet_a"]
    other = cm.Settings(models=("nasnet_a",), tasks=("classification",), search_workdir=None,
                        classification_steps=10)
    with pytest.raises(ValueError, match=r"other settings \(\['classification_steps'\]\); use "
                                         r"a new --output_dir"):
        cm._load_or_write_settings(str(tmp_path), other)


def test_one_cell_is_sized_trained_and_measured_on_digits(tmp_path):
    """run_classification at the --tiny size (the slow test below runs every model)."""
    settings = cm.settings_from_args(_args("--models=pnasnet_5", "--tiny",
                                           "--tasks=classification"))
    result = cm.run_classification("pnasnet_5", settings, str(tmp_path / "run"),
                                   target=3_000_000)
    assert abs(result["mult_adds"] / 3_000_000 - 1) <= 0.25      # integer F, tiny network
    assert result["size"].endswith("pnasnet skeleton") and result["image_size"] == 32
    assert 0.0 <= result["top1"] <= 1.0 and result["parameters"] > 0
    with open(tmp_path / "run" / "config.json", encoding="utf-8") as f:
        config = json.load(f)
    assert config["genotype"] == "pnasnet_5"
    assert config["model"]["backbone"]["skip_reduction_layer_input"] is True


def test_detection_backbones_are_configured_and_counted(tmp_path):
    settings = cm.settings_from_args(_args("--models=amoebanet_a,resnet50", "--tiny"))
    params = cm._detection_params(settings, "amoebanet_a", str(tmp_path), filters=6)
    nasnet = params.task.model.backbone.nasnet
    assert (nasnet.genotype, nasnet.skeleton, nasnet.num_conv_filters) == (
        "amoebanet_a", "amoebanet", 6)
    assert params.trainer.train_steps == cm.TINY["detection_steps"]
    assert params.task.annotation_file == str(tmp_path / "instances_val.json")
    parameters, mult_adds = cm._backbone_counts(params)
    assert parameters > 0 and mult_adds > 0
    resnet = cm._detection_params(settings, "resnet50", str(tmp_path), None)
    assert resnet.task.model.backbone.type == "resnet"


@pytest.mark.slow
def test_the_tiny_comparison_runs_every_code_path(tmp_path):
    settings = cm.settings_from_args(_args("--models=nasnet_a,pnasnet_5,resnet50", "--tiny"))
    results = cm.run(settings, str(tmp_path))
    assert {(r["task"], r["model"]) for r in results} == {
        (t, m) for t in cm.TASKS for m in ("nasnet_a", "pnasnet_5", "resnet50")}
    for name in ("comparison.md", "comparison.png", "results.json"):
        assert (tmp_path / name).is_file()
    again = cm.run(settings, str(tmp_path))                           # read back, not rerun
    assert again == results
