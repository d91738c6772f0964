"""Faster R-CNN + FPN throughput: NASNet backbone vs the Model Garden's ResNet-50.

Both detectors are official.vision's Faster R-CNN (Mask R-CNN without masks)
with the heads, FPN, anchors and samplers of its ``fasterrcnn_resnetfpn_coco``
experiment; only the backbone differs: ResNet-50 (official.vision) or a
NASNet (``detection.backbone``; NASNet-A Mobile 4 @ 1056 by default). Same
input size, batch, levels (2..6) and 91 classes. Inputs are a few synthetic
shapes images run through official.vision's own Mask R-CNN parser, so the
training step is the task's ``train_step`` (forward, losses, backward, SGD)
and the inference step is the model's ``training=False`` call (RPN,
proposals, box head, NMS), each inside one ``tf.function``.

Runs alternate between the two detectors (A B A B ...) so load from other
processes on a shared machine hits both alike. Prints training and inference
images/second (wall clock) and CPU seconds per step (this process's threads),
and the ratios NASNet / ResNet-50; also the backbones' forward pass alone
(at small inputs the shared R-CNN heads, 512 sampled / 1,000 proposed boxes
through four 256-filter convolutions, dominate both detectors' cost).

    .venv/bin/python benchmarks/detection_throughput.py                      # 256 px, batch 2
    .venv/bin/python benchmarks/detection_throughput.py --size=512 --nasnet_size=6@4032 \\
        --stem_multiplier=3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from official.vision.configs import maskrcnn as maskrcnn_cfg  # noqa: E402

from detection import backbone, configs, shapes, tfrecords  # noqa: E402
from detection import task as detection_task  # noqa: E402


def task_config(kind: str, size: int, batch: int, data_dir: str, genotype: str,
                nasnet_size: str, stem_multiplier: float) -> configs.NasnetFasterRCNNTask:
    """The Model Garden's Faster R-CNN COCO task at ``size`` px with one backbone."""
    reference = maskrcnn_cfg.fasterrcnn_resnetfpn_coco().task.model.as_dict()
    model = configs.NasnetMaskRCNN()
    model.override(reference, is_strict=True)
    model.input_size = [size, size, 3]
    if kind == "nasnet":
        model.backbone = backbone.Backbone(
            type="nasnet", nasnet=backbone.NasnetBackboneConfig(
                genotype=genotype, size=nasnet_size, stem_multiplier=stem_multiplier,
                min_level=model.min_level))
    data = maskrcnn_cfg.DataConfig(input_path=os.path.join(data_dir, "train*"),
                                   is_training=True, global_batch_size=batch, dtype="float32",
                                   shuffle_buffer_size=8)
    return configs.NasnetFasterRCNNTask(model=model, train_data=data,
                                        losses=maskrcnn_cfg.Losses(l2_weight_decay=4e-5))


def build(kind: str, args, data_dir: str):
    config = task_config(kind, args.size, args.batch, data_dir, args.genotype,
                         args.nasnet_size, args.stem_multiplier)
    task = detection_task.NasnetFasterRCNNTask(config)
    model = task.build_model()
    optimizer = tf_keras.optimizers.SGD(0.001, momentum=0.9)
    batch = next(iter(task.build_inputs(config.train_data)))

    @tf.function
    def train_step(inputs):
        return task.train_step(inputs, model, optimizer)["loss"]

    @tf.function
    def infer_step(images, labels):
        out = model(images, anchor_boxes=labels["anchor_boxes"],
                    image_shape=labels["image_info"][:, 1, :], training=False)
        return out["num_detections"]

    @tf.function
    def backbone_step(images):
        return tf.add_n([tf.reduce_sum(v) for v in model.backbone(images, training=False)
                         .values()])

    return {"model": model, "batch": batch,
            "train": lambda: train_step(batch),
            "infer": lambda: infer_step(batch[0], batch[1]),
            "backbone": lambda: backbone_step(batch[0]),
            "params": model.count_params(), "backbone_params": model.backbone.count_params()}


def timed(fn, steps: int) -> tuple[float, float]:
    """(wall seconds per step, CPU seconds per step) over ``steps`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        result = fn()
    float(tf.reduce_sum(tf.cast(result, tf.float32)))  # wait for the last step
    return ((time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="input height = width (px)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="A B rounds per phase")
    parser.add_argument("--genotype", default="nasnet_a")
    parser.add_argument("--nasnet_size", default="4@1056", help="N@P of the NASNet")
    parser.add_argument("--stem_multiplier", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.size % 64:
        parser.error("--size must be a multiple of 64 (levels 2..6)")

    with tempfile.TemporaryDirectory() as data_dir:
        tfrecords.make_shapes(data_dir, num_train=max(4, args.batch), num_val=1, seed=0,
                              num_shards=1, config=shapes.ShapesConfig(
                                  image_size=args.size, max_size=min(args.size, 160)))
        detectors = {}
        for kind in ("nasnet", "resnet50"):
            start = time.perf_counter()
            detectors[kind] = build("nasnet" if kind == "nasnet" else "resnet", args, data_dir)
            d = detectors[kind]
            t0 = time.perf_counter()
            d["train"]()
            t1 = time.perf_counter()
            d["infer"]()
            d["backbone"]()
            print(f"{kind:9s} params {d['params']:>11,} (backbone {d['backbone_params']:>11,}); "
                  f"build {t0 - start:5.1f} s, first train step {t1 - t0:5.1f} s, first "
                  f"inference {time.perf_counter() - t1:5.1f} s", flush=True)

    phases = ("train", "infer", "backbone")
    results = {kind: {phase: [] for phase in phases} for kind in detectors}
    for phase in phases:
        for _ in range(args.repeats):
            for kind, d in detectors.items():
                results[kind][phase].append(timed(d[phase], args.steps))

    print(f"\nFaster R-CNN + FPN, {args.size} x {args.size} px, batch {args.batch}, "
          f"{args.steps} steps x {args.repeats} rounds (median); NASNet: {args.genotype} "
          f"{args.nasnet_size}")
    print(f"{'backbone':10s} {'train img/s':>12s} {'train CPU s/step':>17s} "
          f"{'infer img/s':>12s} {'infer CPU s/step':>17s} {'backbone-only img/s':>20s}")
    summary = {}
    for kind, phases in results.items():
        row = {}
        for phase, runs in phases.items():
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            row[phase] = (args.batch / wall, cpu)
        summary[kind] = row
        print(f"{kind:10s} {row['train'][0]:12.2f} {row['train'][1]:17.2f} "
              f"{row['infer'][0]:12.2f} {row['infer'][1]:17.2f} {row['backbone'][0]:20.2f}")
    train_ratio = summary["nasnet"]["train"][0] / summary["resnet50"]["train"][0]
    infer_ratio = summary["nasnet"]["infer"][0] / summary["resnet50"]["infer"][0]
    cpu_train = summary["resnet50"]["train"][1] / summary["nasnet"]["train"][1]
    cpu_infer = summary["resnet50"]["infer"][1] / summary["nasnet"]["infer"][1]
    backbone_ratio = summary["nasnet"]["backbone"][0] / summary["resnet50"]["backbone"][0]
    print(f"\nratio NASNet / ResNet-50 images/s: training {train_ratio:.2f}, inference "
          f"{infer_ratio:.2f} (by CPU time: training {cpu_train:.2f}, inference "
          f"{cpu_infer:.2f}); backbone forward alone {backbone_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
