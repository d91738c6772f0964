"""One short check of the accelerator paths on a GPU machine: step times and memory.

Three parts, each in its own process (so each one's peak memory is its own),
printed as a table at the end and optionally written as JSON:

* ``input``: the ImageNet training input pipeline alone on this machine's
  CPUs (``benchmarks/input_pipeline.py``, the ``after`` pipeline): the rate
  a training step must stay below for the input not to be the bottleneck.
* ``transfer``: NASNet-A Mobile (the ``nasnet_a_mobile`` preset: 4 @ 1056,
  224 px, aux head, SlimRMSprop, label smoothing) trained with Keras ``fit``
  through ``transfer.trainer.compile_classifier``: XLA (``jit_compile``),
  mixed precision (``auto``: float16 with loss scaling on a GPU),
  ``steps_per_execution`` as in the preset, on an in-memory synthetic batch.
* ``supernet``: the weight-sharing search's supernet at ENAS's size
  (``enas_cifar10``: 5-block cells of 5 ops, N = 2, F = 20, 32 px, batch
  160) through ``benchmarks/supernet.py``'s ``measure`` (the search's own
  trainer; a new architecture every step), once per ``--supernet_variants``
  entry (a precision, optionally ``+xla``), each in its own process; the
  row also gives the projected hours of the 150-epoch search (issue 12's
  goal on a GPU: at most 12).
* ``detection``: a few training steps of the ``fasterrcnn_nasnet_fpn_coco_gpu``
  experiment (NASNet-A Large 6 @ 4032 + FPN Faster R-CNN at 1024 px, float16
  with the Model Garden's dynamic loss scaling, synchronized batch norm) on
  this machine's GPUs at the experiment's 2 images per GPU, through the Model
  Garden's task (``build_model``, ``create_optimizer``, ``build_inputs``,
  ``train_step``) on synthetic shapes images (``detection.shapes``).

Reported per part: the first step (tracing / XLA compilation included), the
median seconds per step after it, images per second, the peak GPU memory
(``tf.config.experimental.get_memory_info``) and the peak host memory.

A lent GPU comes for a few minutes, and a command there is killed at its
limit (10 minutes) with nothing more written. So the parts share one wall
budget (``--budget``, 540 s: the limit less a margin): a part gets at most
``--timeout`` seconds and never more than what is left, a part that would
start with under ``MIN_PART_S`` left is skipped (its row says so), and
``--json`` is rewritten (atomically) after every part, so a kill keeps the
rows measured before it.

    # on the GPU machine (about 5-8 minutes, most of it compiling):
    .venv/bin/python benchmarks/device_check.py --json=out/device_check.json
    # on a CPU, at tiny sizes, to check that it runs (about 5 minutes on 2 cores):
    .venv/bin/python benchmarks/device_check.py --tiny
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from nasnet import io_utils  # noqa: E402

#: A part is not started with less wall time than this left in ``--budget``.
MIN_PART_S = 60

PARTS = ("input", "transfer", "supernet", "detection")


def _memory() -> dict:
    """Peak GPU memory (MiB, the first GPU) and peak host resident memory (MiB)."""
    import tensorflow as tf
    out = {"host_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if tf.config.list_physical_devices("GPU"):
        out["gpu_peak_mib"] = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return out


def _device() -> str:
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"{len(gpus)} x {details.get('device_name', 'GPU')}"


def part_input(args) -> dict:
    small = (["--num_images=16", "--shuffle_buffer=16", "--batch=8", "--warmup=1",
              "--batches=2", "--image_size=64"] if args.tiny else
             ["--shuffle_buffer=1000", "--batch=128", "--batches=20"])
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.json")
        proc = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks",
                                                            "input_pipeline.py"),
                               "--pipelines=after", f"--json={out}", *small],
                              capture_output=True, text=True, cwd=REPO)
        if proc.returncode:
            raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
        with open(out, encoding="utf-8") as f:
            row = json.load(f)[0]
    return {"what": f"input pipeline ({row['cpus']} CPUs)", "images_per_s": row["images_per_s"],
            "host_peak_mib": row["peak_rss_mb"]}


def part_transfer(args) -> dict:
    import tensorflow as tf
    import tf_keras
    from nasnet import known_genotypes, networks
    from nasnet.cell import DropPathSchedule
    from transfer import config as config_lib
    from nasnet import distribute
    from transfer import trainer

    strategy = distribute.make_strategy("one_device")
    cfg = config_lib.preset("nasnet_a_mobile")
    spe = 2 if args.tiny else cfg.steps_per_execution
    overrides = {"xla": True, "mixed_precision": args.mixed_precision,
                 "per_replica_batch_size": args.batch, "steps_per_execution": spe,
                 "steps_per_loop": spe, "checkpoint_every_steps": spe}
    if args.tiny:
        cfg = config_lib.with_size(cfg, "1@192")
        overrides["model.image_size"] = 96
    cfg = config_lib.apply_overrides(cfg, overrides)
    policy = distribute.precision_policy(cfg.mixed_precision, strategy)
    tf_keras.mixed_precision.set_global_policy(policy)
    tf_keras.utils.set_random_seed(0)
    batch, size, classes = args.batch, cfg.model.image_size, cfg.model.num_classes
    with strategy.scope():
        model = networks.build_classifier(known_genotypes.NASNET_A, cfg.model)
        trainer.compile_classifier(model, cfg, trainer.make_optimizer(
            cfg, batch, config_lib.IMAGENET_TRAIN_EXAMPLES))
    images = tf.random.uniform([batch, size, size, 3], -1.0, 1.0)
    labels = tf.one_hot(tf.random.uniform([batch], maxval=classes, dtype=tf.int32), classes)
    ds = tf.data.Dataset.from_tensors((images, {"logits": labels, "aux_logits": labels}))
    ds = ds.repeat().prefetch(4)
    callbacks = [DropPathSchedule(cfg.model.backbone.total_training_steps, update_every=spe)]
    started = time.perf_counter()
    model.fit(ds, steps_per_epoch=spe, epochs=1, verbose=0, callbacks=callbacks)
    first = time.perf_counter() - started
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        model.fit(ds, steps_per_epoch=spe, epochs=1, verbose=0, callbacks=callbacks)
        times.append((time.perf_counter() - started) / spe)
    step = statistics.median(times)
    loss_scaled = isinstance(model.optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
    return {"what": f"NASNet-A Mobile {cfg.model.backbone.size} {size} px, batch {batch}, "
                    f"{policy}{' + loss scaling' if loss_scaled else ''}, XLA, "
                    f"{spe} steps/execution",
            "first_step_s": first, "step_s": step, "images_per_s": batch / step, **_memory()}


def part_supernet(args) -> dict:
    from benchmarks import supernet

    variant = supernet.parse_variant(args.supernet_variant)
    size = supernet.SIZES["tiny" if args.tiny else "paper"]
    row = supernet.measure(size, args.supernet_steps, 2, variant=variant)
    step = row["changing"]["seconds_per_step"]
    hours = row["projection"]["search_hours"]
    return {"what": f"ENAS supernet ({size.preset}, {size.image_size} px, batch {size.batch}), "
                    f"{variant.name}, a new architecture each step; "
                    f"{row['projection']['epochs']} epochs projected {hours:.1f} h",
            "first_step_s": row["first_train_step_seconds"], "step_s": step,
            "images_per_s": size.batch / step, "projected_search_hours": hours, **_memory()}


def part_detection(args) -> dict:
    import tensorflow as tf
    from official.core import exp_factory, task_factory
    from official.modeling import performance

    from detection import configs, shapes, tfrecords, train_lib
    from detection import task as detection_task  # noqa: F401  (registers the task)

    name = "fasterrcnn_nasnet_fpn_coco_gpu"
    params = exp_factory.get_exp_config(name)
    gpus = len(tf.config.list_physical_devices("GPU"))
    per_gpu = params.task.train_data.global_batch_size // configs.HARDWARE[name].replicas
    if gpus:
        params.runtime.num_gpus = gpus
    else:          # a CPU: the same code path on one device
        params.runtime.distribution_strategy = "one_device"
        params.runtime.num_gpus = 0
    params.task.train_data.global_batch_size = per_gpu * max(1, gpus)
    size = params.task.model.input_size[0]
    if args.tiny:  # a small backbone and heads; float32 on a CPU (float16 is emulated there)
        size = 128
        model_cfg = params.task.model
        model_cfg.input_size = [size, size, 3]
        model_cfg.backbone.nasnet.size = "1@96"
        model_cfg.decoder.fpn.num_filters = 32
        model_cfg.rpn_head.num_filters = 32
        model_cfg.detection_head.num_convs, model_cfg.detection_head.fc_dims = 0, 64
        model_cfg.roi_sampler.num_sampled_rois = 32
        if not gpus:
            params.runtime.mixed_precision_dtype = "float32"
    with tempfile.TemporaryDirectory() as data_dir:
        tfrecords.make_shapes(data_dir, num_train=max(4, params.task.train_data.global_batch_size),
                              num_val=1, seed=0, num_shards=1,
                              config=shapes.ShapesConfig(image_size=size,
                                                         max_size=min(size, 160)))
        params = configs.with_data_dir(params, data_dir)
        params.task.train_data.shuffle_buffer_size = 8
        configs.check_runtime(params)
        strategy = train_lib.strategy_for(params)
        configs.check_runtime(params, int(strategy.num_replicas_in_sync))
        performance.set_mixed_precision_policy(params.runtime.mixed_precision_dtype)
        with strategy.scope():
            task = task_factory.get_task(params.task)
            model = task.build_model()
            optimizer = task.create_optimizer(params.trainer.optimizer_config, params.runtime)
        dataset = strategy.distribute_datasets_from_function(
            lambda context: task.build_inputs(params.task.train_data, context))
        iterator = iter(dataset)

        @tf.function
        def train_step(inputs):
            losses = strategy.run(lambda x: task.train_step(x, model, optimizer)["loss"],
                                  args=(inputs,))
            return strategy.reduce("MEAN", losses, axis=None)

        started = time.perf_counter()
        float(train_step(next(iterator)))
        first = time.perf_counter() - started
        times = []
        for _ in range(args.detection_steps):
            started = time.perf_counter()
            loss = float(train_step(next(iterator)))
            times.append(time.perf_counter() - started)
    step = statistics.median(times)
    batch = params.task.train_data.global_batch_size
    nas = params.task.model.backbone.nasnet
    return {"what": f"{name}: NASNet-A {nas.size} + FPN, {size} px, batch {batch} on "
                    f"{strategy.num_replicas_in_sync} replica(s), "
                    f"{params.runtime.mixed_precision_dtype}"
                    f"{' + loss scaling' if hasattr(optimizer, 'loss_scale') else ''}",
            "first_step_s": first, "step_s": step, "images_per_s": batch / step,
            "loss": loss, **_memory()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {PARTS}")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny sizes, for checking on a CPU that the script runs")
    parser.add_argument("--batch", type=int, default=None,
                        help="NASNet-A Mobile batch (default 128; 8 with --tiny)")
    parser.add_argument("--mixed_precision", default="auto",
                        help="transfer's mixed_precision: auto (float16 on a GPU), float32, "
                             "mixed_float16, mixed_bfloat16")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed executions of the NASNet-A Mobile training")
    parser.add_argument("--supernet_variants", default="float32,mixed_float16",
                        help="the supernet part's variants: precisions (float32, "
                             "mixed_float16, mixed_bfloat16), each optionally +xla")
    parser.add_argument("--supernet_steps", type=int, default=10,
                        help="timed supernet steps per round (2 rounds)")
    parser.add_argument("--supernet_variant", help=argparse.SUPPRESS)   # child mode
    parser.add_argument("--detection_steps", type=int, default=5)
    parser.add_argument("--timeout", type=int, default=480, help="seconds per part, at most")
    parser.add_argument("--budget", type=int, default=540,
                        help="wall seconds for all parts together (a device command's limit "
                             "is 600)")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--part", help=argparse.SUPPRESS)      # child mode
    args = parser.parse_args(argv)
    if args.batch is None:
        args.batch = 8 if args.tiny else 128
    if args.tiny:
        args.repeats, args.detection_steps = min(args.repeats, 2), min(args.detection_steps, 2)
        args.supernet_steps = min(args.supernet_steps, 2)

    if args.part:
        row = {"input": part_input, "transfer": part_transfer, "supernet": part_supernet,
               "detection": part_detection}[args.part](args)
        row["device"] = _device()
        print("RESULT " + json.dumps(row), flush=True)
        return 0

    for name, value, low in (("--budget", args.budget, MIN_PART_S), ("--timeout", args.timeout, 1),
                             ("--supernet_steps", args.supernet_steps, 1)):
        if value < low:
            parser.error(f"{name} must be >= {low}, got {value}")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts:
        parser.error(f"--parts names no part: {args.parts!r}")
    for part in parts:
        if part not in PARTS:
            parser.error(f"unknown part {part!r}; known: {PARTS}")
    variants = [v.strip() for v in args.supernet_variants.split(",") if v.strip()]
    if "supernet" in parts:
        from benchmarks import supernet   # noqa: PLC0415 -- TensorFlow, only to check names
        try:
            for variant in variants or [""]:
                supernet.parse_variant(variant)
        except ValueError as e:
            parser.error(f"--supernet_variants: {e}")
    jobs = [(part, variant) for part in parts
            for variant in (variants if part == "supernet" else [None])]

    rows = run_jobs(jobs, lambda part, variant, timeout: _run_part(args, part, variant, timeout),
                    budget_s=args.budget, timeout_s=args.timeout, json_path=args.json)

    devices = sorted({r["device"] for r in rows if "device" in r})
    print(f"\ndevice check ({', '.join(devices) or '?'}{', tiny sizes' if args.tiny else ''})")
    print("| part | what | first step (s) | s/step (median) | images/s | GPU peak (MiB) "
          "| host peak (MiB) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['part']} | failed: {r['error']} ||||||")
            continue
        def num(key, fmt):
            return format(r[key], fmt) if key in r else "-"
        print(f"| {r['part']} | {r['what']} | {num('first_step_s', '.1f')} | "
              f"{num('step_s', '.3f')} | {num('images_per_s', '.1f')} | "
              f"{num('gpu_peak_mib', '.0f')} | {num('host_peak_mib', '.0f')} |")
    return 1 if any("error" in r for r in rows) else 0


def run_jobs(jobs, run_part, budget_s: float, timeout_s: float, json_path: str | None = None,
             clock=time.monotonic) -> list[dict]:
    """Runs ``run_part(part, variant, timeout) -> row`` for each (part, variant) job
    within one wall budget (module docstring); the rows, in job order.

    A job that would start with under ``MIN_PART_S`` seconds of ``budget_s``
    left gets the row ``{"part", "error": "skipped: ..."}``; the others get at
    most ``min(timeout_s, what is left)`` seconds. ``json_path``: the rows so
    far, rewritten atomically after each job.
    """
    deadline = clock() + budget_s
    rows = []
    for part, variant in jobs:
        left = deadline - clock()
        label = f"{part} {variant}" if variant else part
        if left < MIN_PART_S:
            rows.append({"part": part, **_variant(variant),
                         "error": f"skipped: {max(left, 0):.0f} s of the {budget_s:.0f} s "
                                  f"budget left (--budget)"})
            print(f"{label}: skipped, {max(left, 0):.0f} s of the budget left", flush=True)
        else:
            rows.append(run_part(part, variant, int(min(timeout_s, left))))
        if json_path:
            io_utils.atomic_write_json(json_path, rows)
    return rows


def _variant(variant: str | None) -> dict:
    return {"variant": variant} if variant else {}


def _run_part(args, part: str, variant: str | None, timeout: int) -> dict:
    """One part in its own process (its peak memory its own); its row, or an error row."""
    cmd = [sys.executable, os.path.abspath(__file__), f"--part={part}",
           f"--batch={args.batch}", f"--mixed_precision={args.mixed_precision}",
           f"--repeats={args.repeats}", f"--detection_steps={args.detection_steps}",
           f"--supernet_steps={args.supernet_steps}",
           *([f"--supernet_variant={variant}"] if variant else []),
           *(["--tiny"] if args.tiny else [])]
    label = f"{part} {variant}" if variant else part
    print(f"{label}: running (at most {timeout} s) ...", flush=True)
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{label}: timed out", flush=True)
        return {"part": part, **_variant(variant), "error": f"timed out after {timeout} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        print(f"{label}: FAILED (exit {proc.returncode})\n{proc.stderr[-3000:]}", flush=True)
        return {"part": part, **_variant(variant), "error": last[:300]}
    row = {"part": part, **json.loads(lines[-1][len("RESULT "):]),
           "wall_s": time.perf_counter() - started}
    print(f"{label}: {row['images_per_s']:.1f} images/s ({row['wall_s']:.0f} s)", flush=True)
    return row


if __name__ == "__main__":
    sys.exit(main())
