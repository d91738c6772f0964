"""Searched cells against hand-designed networks, in one harness: a table and a plot.

For NASNet-A, PNASNet-5, AmoebaNet-A (each in its own skeleton,
``nasnet.skeletons``), the best cell of a search work directory
(``--search_workdir``; NASNet's skeleton), ResNet-50 and Inception-ResNet-v2
(``tf_keras.applications`` through ``transfer.hand_designed``; ResNet-50 from
official.vision in detection), this measures on this machine:

* **classification on digits** (scikit-learn's, embedded): each network trained
  with the same recipe (``transfer``'s ``digits_tiny`` preset: RMSProp, label
  smoothing, ``--classification_steps`` steps of 32, through
  ``transfer.trainer.train``), top-1 on the digits test split; parameters and
  mult-adds of the inference network (``nasnet.flops``) at its input size;
  training throughput (images/s of the second half of training, whose time
  includes one pass over the test split; the first half includes tracing);
* **detection on shapes** (``detection.shapes``): the ``fasterrcnn_*_fpn_shapes``
  experiments, trained by ``detection.train_lib.run`` (the train binary's
  library) for ``--detection_steps`` steps and scored by
  ``detection.evaluate_lib`` (the evaluate binary's) with pycocotools: box AP on
  the validation images; the backbone's parameters and mult-adds; steps/s
  (Orbit's, the median of the loops after the first).

**Sizes.** The cells are sized to comparable mult-adds: N is fixed
(``--num_cells_per_stack``, CIFAR stem, at ``--image_size``) and each cell's F
is scaled so that its network's mult-adds come near ``--target_mult_adds``
(default: ResNet-50's at the same input size, the NASNet comparison's "equal
compute"); F is found by counting (``nasnet.flops``) and rescaling, at most
four counts, to within 5 % where the integer F allows (``size_to_target``):
the table states the size and the count reached. Hand-designed networks have one size: ResNet-50 at
``--image_size`` (at least 32 px), Inception-ResNet-v2 at its minimum of 75 px
(Keras's limit for its VALID convolutions). In detection the cells replace
NASNet-A 1 @ 384 (F = 16, the shapes experiment's backbone) at that backbone's
mult-adds; ResNet-50 is the Model Garden's, at the experiment's 128 px.
Inception-ResNet-v2 has no detection row: official.vision has no such
backbone, and tf_keras's VALID feature maps do not halve exactly as FPN needs.

**Published figures.** Beside our measurements, the papers' ImageNet numbers for
the same models (``nasnet.published``), each labelled with its source and how
sure it is; they are the papers', not ours.

Writes ``<output_dir>/comparison.md`` (the tables), ``comparison.png`` (top-1
on digits and AP on shapes against mult-adds, and the published ImageNet
top-1 against mult-adds), ``results.json``, and each run's work directory.
A model's result is saved as soon as it is done (``results/``); running the
same command again continues where a killed run stopped (other settings:
use a new ``--output_dir``).

    # the comparison: not yet timed; estimated from the README's step times at 35-45
    # minutes on 2 idle cores (each model's time is printed as it finishes)
    .venv/bin/python benchmarks/compare_models.py --output_dir=out/compare_models \\
        --search_workdir=out/quickstart
    # a check of every code path at tiny sizes (its numbers mean nothing)
    .venv/bin/python benchmarks/compare_models.py --output_dir=/tmp/compare --tiny \\
        --models=nasnet_a,pnasnet_5,resnet50
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import math
import os
import statistics
import sys
import time
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nasnet import genotype_source, io_utils, known_genotypes, published  # noqa: E402

CELLS = ("nasnet_a", "pnasnet_5", "amoebanet_a", "searched")
HAND_DESIGNED = ("resnet50", "inception_resnet_v2")
MODELS = CELLS + HAND_DESIGNED
TASKS = ("classification", "detection")
#: The shapes experiment's NASNet-A backbone, which the cells replace in detection.
SHAPES_EXPERIMENT = "fasterrcnn_nasnet_fpn_shapes"
RESNET_SHAPES_EXPERIMENT = "fasterrcnn_resnet50_fpn_shapes"
NO_DETECTION = {"inception_resnet_v2": "no official.vision backbone (and tf_keras's VALID "
                                       "feature maps do not halve exactly as FPN needs)"}
#: Settings of --tiny: every code path, seconds of work.
TINY = {"classification_steps": 2, "detection_steps": 2, "batch_size": 4,
        "num_cells_per_stack": 1, "shapes_images": 8, "shapes_image_size": 64}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that defines the comparison's numbers (a resumed run must match)."""

    models: tuple[str, ...]
    tasks: tuple[str, ...]
    search_workdir: str | None
    image_size: int = 32
    num_cells_per_stack: int = 2
    target_mult_adds: int | None = None
    classification_steps: int = 160
    detection_steps: int = 150
    batch_size: int = 32
    shapes_images: int = 500
    shapes_image_size: int = 128
    seed: int = 0
    tiny: bool = False


# -- arguments ------------------------------------------------------------------------

def parse_models(text: str, search_workdir: str | None) -> tuple[str, ...]:
    """``"nasnet_a,resnet50"`` -> names; ValueError listing the known ones. The default
    (empty) is every model, ``searched`` only with a search work directory."""
    if not text:
        return tuple(m for m in MODELS if m != "searched" or search_workdir)
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; known: {list(MODELS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"a model is named twice in {list(names)}")
    if "searched" in names and not search_workdir:
        raise ValueError("model 'searched' needs --search_workdir (a search work directory, "
                         "or any genotype source)")
    return names


def parse_tasks(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in TASKS]
    if unknown or not names:
        raise ValueError(f"unknown task(s) {unknown or [text]}; known: {list(TASKS)}")
    return names


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Flags -> Settings, every flag checked (nothing is written)."""
    models = parse_models(args.models, args.search_workdir)
    values = dict(models=models, tasks=parse_tasks(args.tasks),
                  search_workdir=os.path.abspath(args.search_workdir)
                  if args.search_workdir else None,
                  image_size=args.image_size, num_cells_per_stack=args.num_cells_per_stack,
                  target_mult_adds=args.target_mult_adds,
                  classification_steps=args.classification_steps,
                  detection_steps=args.detection_steps, seed=args.seed, tiny=args.tiny)
    if args.tiny:
        values.update(TINY)
    settings = Settings(**values)
    for name in ("image_size", "num_cells_per_stack", "classification_steps",
                 "detection_steps"):
        if getattr(settings, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(settings, name)}")
    if settings.classification_steps % 2:
        raise ValueError(f"--classification_steps must be even (two halves), got "
                         f"{settings.classification_steps}")
    if "resnet50" in models and settings.image_size < 32:
        raise ValueError(f"--image_size {settings.image_size} is below ResNet-50's minimum "
                         f"of 32 px")
    if settings.target_mult_adds is not None and settings.target_mult_adds < 1:
        raise ValueError(f"--target_mult_adds must be >= 1, got {settings.target_mult_adds}")
    return settings


def genotype_of(model: str, settings: Settings):
    """The Genotype of a cell model (the searched one from ``--search_workdir``)."""
    if model == "searched":
        genotype = genotype_source.resolve(settings.search_workdir)
        return genotype.with_name(genotype.name or "searched")
    return known_genotypes.get(model)


def wiring_of(model: str) -> dict[str, Any]:
    """A published cell's own skeleton and ``skip_reduction_layer_input`` (those of its
    mobile preset: PNASNet-5 reads the cell two back at every cell); a searched cell is
    wired as the search's children (NASNet's skeleton, no skip)."""
    from nasnet import networks
    if model not in known_genotypes.SKELETON_OF:
        return {"skeleton": "nasnet", "skip_reduction_layer_input": False}
    mobile = published.of_architecture(model)[0]   # e.g. pnasnet_5_mobile
    backbone = networks.PRESETS[mobile.preset].backbone
    return {"skeleton": backbone.skeleton,
            "skip_reduction_layer_input": backbone.skip_reduction_layer_input}


# -- sizing -----------------------------------------------------------------------------

def size_to_target(count: Callable[[int], int], target: int, start: int, smallest: int = 2,
                   tolerance: float = 0.05, max_counts: int = 4) -> tuple[int, int]:
    """``(F, mult-adds)`` with ``count(F)`` near ``target``: count at ``start``, rescale F by
    ``(target / count) ** (1 / k)`` with k = 2 at first (mult-adds grow about as F^2) and
    then the exponent the last two counts show, until within ``tolerance`` or after
    ``max_counts`` counts (each builds and traces a network)."""
    filters, mult_adds = start, count(start)
    exponent, counts = 2.0, 1
    while abs(mult_adds / target - 1.0) > tolerance and counts < max_counts:
        new = max(smallest, int(round(filters * (target / mult_adds) ** (1.0 / exponent))))
        if new == filters:
            break
        new_mult_adds = count(new)
        counts += 1
        if new_mult_adds != mult_adds:
            exponent = min(3.0, max(1.0, math.log(new_mult_adds / mult_adds)
                                    / math.log(new / filters)))
        filters, mult_adds = new, new_mult_adds
    return filters, mult_adds


# -- classification ------------------------------------------------------------------------

def _train_config(settings: Settings, model: str, filters: int | None):
    from transfer import config as config_lib, hand_designed
    steps = settings.classification_steps
    overrides = {"train_steps": steps, "steps_per_loop": steps // 2,
                 "checkpoint_every_steps": steps // 2, "eval_steps": 1 if settings.tiny else None,
                 "data.eval_split": "test", "per_replica_batch_size": settings.batch_size,
                 "model.image_size": settings.image_size, "seed": settings.seed,
                 "model.backbone.total_training_steps": steps, "strategy": "one_device"}
    if model in HAND_DESIGNED:
        size = max(settings.image_size, hand_designed.get(model).min_image_size)
        base = config_lib.preset("digits_tiny", {**overrides, "model.image_size": size})
        return config_lib.with_hand_designed(base, model)
    overrides.update({"genotype": settings.search_workdir if model == "searched" else model,
                      "model.backbone.num_cells_per_stack": settings.num_cells_per_stack,
                      "model.backbone.num_conv_filters": filters,
                      **{f"model.backbone.{k}": v for k, v in wiring_of(model).items()}})
    return config_lib.preset("digits_tiny", overrides)


def _classifier_counts(config, genotype) -> tuple[int, int]:
    """Parameters and mult-adds of the inference network (float32, no aux head)."""
    import tf_keras
    from nasnet import flops, networks
    from transfer import trainer
    tf_keras.backend.clear_session()
    model = networks.inference_model(trainer.build_model(config, genotype))
    size = config.model.image_size
    return int(model.count_params()), int(flops.count_mult_adds(model, (size, size, 3)))


def _second_half_images_per_second(workdir: str) -> float | None:
    """images/s of the last training loop (the first includes tracing)."""
    loops = []
    with open(os.path.join(workdir, "events.jsonl"), encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            if event.get("event") == "loop":
                loops.append(event["images_per_second"])
    return loops[-1] if len(loops) > 1 else None


def classification_target(settings: Settings) -> int:
    """The mult-adds the cells are sized to: ``--target_mult_adds``, else ResNet-50's."""
    if settings.target_mult_adds is not None:
        return settings.target_mult_adds
    return _classifier_counts(_train_config(settings, "resnet50", None), None)[1]


def run_classification(model: str, settings: Settings, workdir: str,
                       target: int | None) -> dict[str, Any]:
    """Sizes (cells), counts, trains and evaluates one network on digits."""
    from transfer import trainer
    genotype = None
    filters = None
    if model in CELLS:
        genotype = genotype_of(model, settings)

        def count(f: int) -> int:
            return _classifier_counts(_train_config(settings, model, f), genotype)[1]

        filters, _ = size_to_target(count, target, start=4 if settings.tiny else 16)
    config = _train_config(settings, model, filters)
    parameters, mult_adds = _classifier_counts(config, genotype)
    started = time.perf_counter()
    result = trainer.train(config, workdir, genotype=genotype)
    size = (f"{config.model.backbone.num_cells_per_stack} @ F{filters}, "
            f"{config.model.backbone.skeleton} skeleton" if genotype is not None
            else "its only size")
    return {"model": model, "task": "classification",
            "architecture": trainer.architecture_name(config, genotype),
            "size": size, "image_size": config.model.image_size,
            "parameters": parameters, "mult_adds": mult_adds,
            "top1": float(result.metrics["top1"]),
            "images_per_second": _second_half_images_per_second(result.workdir),
            "seconds": time.perf_counter() - started, "workdir": result.workdir}


# -- detection -----------------------------------------------------------------------------

def _shapes_overrides(settings: Settings) -> dict[str, Any]:
    steps = settings.detection_steps
    overrides: dict[str, Any] = {"trainer": {
        "train_steps": steps, "validation_interval": steps,
        "steps_per_loop": min(50, max(1, steps // 6)),
        "summary_interval": min(50, max(1, steps // 6)),
        "checkpoint_interval": steps,
        "optimizer_config": {"learning_rate": {"cosine": {"decay_steps": steps}}}}}
    if settings.tiny:
        size = settings.shapes_image_size
        overrides["task"] = {
            "model": {"input_size": [size, size, 3], "decoder": {"fpn": {"num_filters": 16}},
                      "rpn_head": {"num_filters": 16},
                      "detection_head": {"num_filters": 16, "fc_dims": 32},
                      "roi_generator": {"pre_nms_top_k": 64, "num_proposals": 16,
                                        "test_pre_nms_top_k": 64, "test_num_proposals": 16},
                      "roi_sampler": {"num_sampled_rois": 8},
                      "detection_generator": {"pre_nms_top_k": 32, "max_num_detections": 5}},
            "train_data": {"global_batch_size": 2, "shuffle_buffer_size": 4,
                           "parser": {"rpn_batch_size_per_im": 16}},
            "validation_data": {"global_batch_size": 2}}
    return overrides


def _detection_params(settings: Settings, model: str, data_dir: str, filters: int | None):
    from detection import configs
    overrides = _shapes_overrides(settings)
    if model == "resnet50":
        return configs.load_experiment(RESNET_SHAPES_EXPERIMENT, params_override=overrides,
                                       data_dir=data_dir)
    spec = settings.search_workdir if model == "searched" else model
    overrides.setdefault("task", {}).setdefault("model", {})["backbone"] = {"nasnet": {
        "genotype": spec, "num_conv_filters": filters or 0,
        "total_training_steps": settings.detection_steps, **wiring_of(model)}}
    return configs.load_experiment(SHAPES_EXPERIMENT, params_override=overrides,
                                   data_dir=data_dir)


def _backbone_counts(params) -> tuple[int, int]:
    """Parameters and mult-adds of the experiment's backbone alone, at its input size."""
    import tf_keras
    from official.vision.modeling.backbones import factory
    from nasnet import flops
    tf_keras.backend.clear_session()
    model_cfg = params.task.model
    size = tuple(int(d) for d in model_cfg.input_size)
    backbone = factory.build_backbone(
        tf_keras.layers.InputSpec(shape=[None, *size]), model_cfg.backbone,
        model_cfg.norm_activation)
    return int(backbone.count_params()), int(flops.count_mult_adds(backbone, size))


def _steps_per_second(model_dir: str) -> float | None:
    """Median of Orbit's ``steps_per_second`` summaries after the first loop."""
    import tensorflow as tf
    values = []
    for path in sorted(glob.glob(os.path.join(model_dir, "train", "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "steps_per_second":
                    values.append((event.step, float(tf.make_ndarray(value.tensor))
                                   if value.HasField("tensor") else value.simple_value))
    values = [v for _, v in sorted(values)][1:]
    return statistics.median(values) if values else None


def detection_target(settings: Settings, data_dir: str) -> int:
    """Mult-adds of the shapes experiment's NASNet-A backbone (what the cells replace)."""
    return _backbone_counts(_detection_params(settings, "nasnet_a", data_dir, None))[1]


def run_detection(model: str, settings: Settings, data_dir: str, workdir: str,
                  target: int | None) -> dict[str, Any]:
    """Sizes (cells), trains and evaluates one detector on shapes."""
    from detection import configs, evaluate_lib, train_lib
    filters = None
    if model in CELLS and model != "nasnet_a":  # NASNet-A is the experiment's own backbone
        genotype_of(model, settings)  # a bad genotype fails before any training

        def count(f: int) -> int:
            return _backbone_counts(_detection_params(settings, model, data_dir, f))[1]

        filters, _ = size_to_target(count, target, start=4 if settings.tiny else 16)
    params = _detection_params(settings, model, data_dir, filters)
    parameters, mult_adds = _backbone_counts(params)
    experiment = RESNET_SHAPES_EXPERIMENT if model == "resnet50" else SHAPES_EXPERIMENT
    started = time.perf_counter()
    detector, _ = train_lib.run(params, workdir, "train", experiment=experiment)
    detector_parameters = int(detector.count_params())
    evaluation = evaluate_lib.evaluate_checkpoints(
        params, workdir, params.task.annotation_file,
        os.path.join(data_dir, "images", "val"), os.path.join(workdir, "eval"))[-1]
    return {"model": model, "task": "detection", "backbone": configs.describe_backbone(params),
            "size": (f"{wiring_of(model)['skeleton']} skeleton" if model in CELLS
                     else "its only size"),
            "image_size": int(params.task.model.input_size[0]),
            "parameters": parameters, "mult_adds": mult_adds,
            "detector_parameters": detector_parameters, "AP": float(evaluation["AP"]),
            "AP50": float(evaluation["AP50"]), "steps_per_second": _steps_per_second(workdir),
            "batch_size": int(params.task.train_data.global_batch_size),
            "seconds": time.perf_counter() - started, "workdir": workdir}


def make_shapes(settings: Settings, data_dir: str) -> None:
    from detection import shapes, tfrecords
    if os.path.isfile(os.path.join(data_dir, "instances_val.json")):
        return
    size = settings.shapes_image_size
    config = shapes.ShapesConfig(image_size=size, min_size=max(8, size // 9),
                                 max_size=max(16, size * 7 // 16))
    num_val = max(2, settings.shapes_images // 10)
    with io_utils.atomic_directory(data_dir) as tmp:
        tfrecords.make_shapes(tmp, num_train=settings.shapes_images, num_val=num_val,
                              seed=settings.seed, num_shards=1, config=config)


# -- tables and plot ------------------------------------------------------------------------

def _millions(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value / 1e6:,.{digits}f}M"


def format_tables(results: list[dict[str, Any]], settings: Settings) -> str:
    """The measured tables, then the published figures."""
    lines = [f"## Ours: digits classification ({settings.classification_steps} steps of "
             f"{settings.batch_size}, top-1 on the test split; this machine)", "",
             "| model | size | input | parameters | mult-adds | top-1 | train images/s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        if r["task"] == "classification":
            rate = "-" if r["images_per_second"] is None else f"{r['images_per_second']:.1f}"
            lines.append(f"| {r['model']} | {r['size']} | {r['image_size']} px | "
                         f"{_millions(r['parameters'], 2)} | {_millions(r['mult_adds'])} | "
                         f"{r['top1']:.3f} | {rate} |")
    lines += ["", f"## Ours: shapes detection, Faster R-CNN + FPN ({settings.detection_steps} "
              f"steps; box AP on the validation images; this machine)", "",
              "| model | backbone | input | backbone parameters | backbone mult-adds | "
              "detector parameters | AP | AP50 | train images/s |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if r["task"] == "detection":
            rate = ("-" if r["steps_per_second"] is None
                    else f"{r['steps_per_second'] * r['batch_size']:.1f}")
            lines.append(f"| {r['model']} | {r['backbone']}, {r['size']} | {r['image_size']} px | "
                         f"{_millions(r['parameters'], 2)} | {_millions(r['mult_adds'])} | "
                         f"{_millions(r['detector_parameters'], 2)} | {r['AP']:.3f} | "
                         f"{r['AP50']:.3f} | {rate} |")
    skipped = [m for m in settings.models if m in NO_DETECTION and "detection" in settings.tasks]
    for model in skipped:
        lines.append(f"| {model} | - | - | - | - | - | - | - | - |")
    if skipped:
        lines += [""] + [f"{m}: {NO_DETECTION[m]}." for m in skipped]
    lines += ["", "## Published ImageNet figures (the papers' and their code's, not ours)", "",
              "| model | size | input | parameters | mult-adds | ImageNet top-1 |",
              "|---|---|---:|---|---|---|"]
    architectures = {m for m in settings.models if m != "searched"}
    for info in published.MODELS.values():
        if info.architecture in architectures:
            lines.append(
                f"| {info.name} | {info.size} | {info.image_size} px | "
                f"{_millions(info.parameters.value)} [{info.parameters.confidence}] | "
                f"{_millions(info.mult_adds.value, 0)} [{info.mult_adds.confidence}] | "
                f"{info.imagenet_top1.value:.1%} [{info.imagenet_top1.confidence}] |")
    lines += ["", "Sources: " + "; ".join(sorted({
        f.source for info in published.MODELS.values() if info.architecture in architectures
        for f in (info.parameters, info.mult_adds, info.imagenet_top1)})) + ".",
        "[code]: read in or counted from the code; [2nd]: a secondary source; "
        "[unverified]: the paper as cited, not checked here."]
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], settings: Settings, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("classification", "top1", "digits top-1 (ours)"),
              ("detection", "AP", "shapes box AP (ours)")]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for ax, (task, key, title) in zip(axes, panels):
        for r in (r for r in results if r["task"] == task):
            marker = "s" if r["model"] in HAND_DESIGNED else "o"
            ax.scatter(r["mult_adds"] / 1e6, r[key], marker=marker)
            ax.annotate(r["model"], (r["mult_adds"] / 1e6, r[key]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("mult-adds (millions)" + (" of the backbone" if task == "detection" else ""))
        ax.set_title(title)
        ax.grid(alpha=0.3)
    ax = axes[2]
    architectures = {m for m in settings.models if m != "searched"}
    for info in published.MODELS.values():
        if info.architecture in architectures:
            marker = "s" if info.kind == published.HAND_DESIGNED else "o"
            ax.scatter(info.mult_adds.value / 1e9, info.imagenet_top1.value, marker=marker)
            ax.annotate(info.name, (info.mult_adds.value / 1e9, info.imagenet_top1.value),
                        fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("mult-adds (billions)")
    ax.set_title("published ImageNet top-1 (the papers', not ours)")
    ax.grid(alpha=0.3)
    fig.suptitle("cells (o) and hand-designed networks (s)")
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


# -- the run ----------------------------------------------------------------------------

def _load_or_write_settings(output_dir: str, settings: Settings) -> None:
    path = os.path.join(output_dir, "settings.json")
    current = json.loads(json.dumps(dataclasses.asdict(settings)))
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
        if previous != current:
            changed = sorted(k for k in current if previous.get(k) != current[k])
            raise ValueError(f"{output_dir} holds a comparison with other settings "
                             f"({changed}); use a new --output_dir")
        return
    io_utils.atomic_write_json(path, current)


def run(settings: Settings, output_dir: str) -> list[dict[str, Any]]:
    """Every (task, model) of ``settings``; finished ones are read back from ``results/``."""
    io_utils.check_writable_directory(output_dir, "--output_dir")
    os.makedirs(output_dir, exist_ok=True)
    _load_or_write_settings(output_dir, settings)
    os.makedirs(os.path.join(output_dir, "results"), exist_ok=True)
    results = []
    targets: dict[str, int] = {}
    data_dir = os.path.join(output_dir, "shapes")
    started = time.perf_counter()
    for task in settings.tasks:
        for model in settings.models:
            if task == "detection" and model in NO_DETECTION:
                continue
            path = os.path.join(output_dir, "results", f"{task}_{model}.json")
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    results.append(json.load(f))
                continue
            workdir = os.path.join(output_dir, task, model)
            if task == "classification":
                if model in CELLS and task not in targets:
                    targets[task] = classification_target(settings)
                result = run_classification(model, settings, workdir, targets.get(task))
            else:
                make_shapes(settings, data_dir)
                if model in CELLS and task not in targets:
                    targets[task] = detection_target(settings, data_dir)
                result = run_detection(model, settings, data_dir, workdir, targets.get(task))
            if task in targets:
                result["target_mult_adds"] = targets[task]
            io_utils.atomic_write_json(path, result)
            results.append(result)
            print(f"[{time.perf_counter() - started:7.0f}s] {task} {model}: "
                  + ", ".join(f"{k} {result[k]}" for k in ("size", "mult_adds", "top1", "AP")
                              if k in result) + f" ({result['seconds']:.0f}s)", flush=True)
    table = format_tables(results, settings)
    io_utils.atomic_write_text(os.path.join(output_dir, "comparison.md"), table + "\n")
    io_utils.atomic_write_json(os.path.join(output_dir, "results.json"),
                               {"settings": dataclasses.asdict(settings), "results": results})
    plot(results, settings, os.path.join(output_dir, "comparison.png"))
    return results


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--models", default="", help=f"comma-separated, of {list(MODELS)} "
                        f"(default: all; 'searched' only with --search_workdir)")
    parser.add_argument("--tasks", default="classification,detection")
    parser.add_argument("--search_workdir", default=None,
                        help="a search work directory (its best cell), or any genotype source")
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--num_cells_per_stack", type=int, default=2)
    parser.add_argument("--target_mult_adds", type=int, default=None,
                        help="classification: the cells' mult-adds (default: ResNet-50's)")
    parser.add_argument("--classification_steps", type=int, default=160)
    parser.add_argument("--detection_steps", type=int, default=150,
                        help="the shapes demo trains 1,000 (AP 0.79); fewer ranks roughly")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true",
                        help="every code path at tiny sizes (its numbers mean nothing)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
        if settings.search_workdir:
            genotype_of("searched", settings)  # a bad source fails before anything is written
    except ValueError as e:
        parser.error(str(e))
    results = run(settings, os.path.abspath(args.output_dir))
    print()
    print(format_tables(results, settings))
    print(f"\nwrote {args.output_dir}/comparison.md, comparison.png and results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
