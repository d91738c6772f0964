"""Training throughput of NASNet-A Mobile through the transfer trainer's own code path.

For each setting (strategy x XLA) a fresh process builds NASNet-A Mobile
(``nasnet_a_mobile`` preset: 4 @ 1056, aux head, label smoothing, SlimRMSprop,
clipping, weight decay) under the strategy, compiles it with
``transfer.trainer.compile_classifier`` (``jit_compile`` = XLA) and runs
``model.fit`` on a synthetic in-memory batch, so input decoding is not
measured. ``mirrored`` splits the CPU into ``--replicas`` logical devices
(``nasnet.distribute.configure_cpu_devices``; the per-replica batch is
``global batch / replicas``, so every setting sees the same global batch).
Reports the first step (tracing / compiling included), the median
steady-state seconds per step, training images per second (wall clock) and
process CPU seconds per step (all threads; less sensitive than wall time to
other processes on a shared machine).

    .venv/bin/python benchmarks/transfer_throughput.py                     # 224 px, batch 32
    .venv/bin/python benchmarks/transfer_throughput.py --image_size=96 --steps=5 \\
        --settings=one_device,mirrored
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SETTINGS = ("one_device", "one_device+xla", "mirrored", "mirrored+xla")


def child(args) -> dict:
    """One setting, in this (fresh) process; returns the measurements."""
    from nasnet import distribute
    strategy_name, _, xla = args.setting.partition("+")
    if strategy_name == "mirrored":
        distribute.configure_cpu_devices(args.replicas)
    strategy = distribute.make_strategy(strategy_name)

    import tensorflow as tf
    import tf_keras
    from nasnet import known_genotypes, networks
    from nasnet.cell import DropPathSchedule
    from transfer import config as config_lib
    from transfer import trainer

    replicas = strategy.num_replicas_in_sync
    if args.global_batch % replicas:
        raise SystemExit(f"--global_batch {args.global_batch} is not a multiple of {replicas}")
    cfg = config_lib.preset("nasnet_a_mobile", {
        "model.image_size": args.image_size, "xla": bool(xla), "mixed_precision": "float32",
        "per_replica_batch_size": args.global_batch // replicas, "strategy": strategy_name})
    trainer.check_xla(cfg, strategy)      # XLA over logical CPUs: refused, as in training
    tf_keras.utils.set_random_seed(0)
    with strategy.scope():
        model = networks.build_classifier(known_genotypes.NASNET_A, cfg.model)
        trainer.compile_classifier(model, cfg, trainer.make_optimizer(
            cfg, args.global_batch, config_lib.IMAGENET_TRAIN_EXAMPLES))
    size, classes = args.image_size, cfg.model.num_classes
    images = tf.random.uniform([args.global_batch, size, size, 3], -1.0, 1.0)
    labels = tf.one_hot(tf.random.uniform([args.global_batch], maxval=classes,
                                          dtype=tf.int32), classes)
    ds = tf.data.Dataset.from_tensors((images, {"logits": labels, "aux_logits": labels}))
    ds = ds.repeat()

    times, cpu = [], []

    class Timer(tf_keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.start)
            cpu.append(time.process_time() - self.cpu)

    started = time.perf_counter()
    model.fit(ds, steps_per_epoch=args.warmup + args.steps, epochs=1, verbose=0,
              callbacks=[Timer(), DropPathSchedule(cfg.model.backbone.total_training_steps)])
    total = time.perf_counter() - started
    steady = times[args.warmup:]
    step = statistics.median(steady)
    return {"setting": args.setting, "replicas": replicas, "global_batch": args.global_batch,
            "image_size": size, "parameters": int(model.count_params()),
            "first_step_s": times[0], "step_s": step, "images_per_s": args.global_batch / step,
            "best_images_per_s": args.global_batch / min(steady),
            "cpu_s_per_step": statistics.median(cpu[args.warmup:]), "fit_s": total}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma-separated, from {SETTINGS}")
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--global_batch", type=int, default=32)
    parser.add_argument("--replicas", type=int, default=2, help="logical CPUs for mirrored")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps (trace first)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--setting", help=argparse.SUPPRESS)      # child mode
    args = parser.parse_args(argv)

    if args.setting:
        print("RESULT " + json.dumps(child(args)), flush=True)
        return 0

    rows = []
    for setting in args.settings.split(","):
        if setting not in SETTINGS:
            parser.error(f"unknown setting {setting!r}; known: {SETTINGS}")
        cmd = [sys.executable, os.path.abspath(__file__), f"--setting={setting}",
               f"--image_size={args.image_size}", f"--global_batch={args.global_batch}",
               f"--replicas={args.replicas}", f"--warmup={args.warmup}",
               f"--steps={args.steps}"]
        print(f"{setting}: running ...", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"{setting}: FAILED (exit {proc.returncode})\n{proc.stderr[-3000:]}",
                  flush=True)
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            rows.append({"setting": setting, "error": last[:200]})
            continue
        row = json.loads(lines[-1][len("RESULT "):])
        rows.append(row)
        print(f"{setting}: {row['images_per_s']:.1f} images/s "
              f"({row['step_s']:.2f} s/step, first step {row['first_step_s']:.0f} s)", flush=True)

    print(f"\nNASNet-A Mobile (4 @ 1056) training, {args.image_size} px, global batch "
          f"{args.global_batch}, {os.cpu_count()} CPU cores")
    print("| strategy | XLA | replicas | per-replica batch | first step (s) | s/step (median) "
          "| images/s (median) | images/s (best) | CPU s/step |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        strategy, _, xla = r["setting"].partition("+")
        if "error" in r:
            print(f"| {strategy} | {'on' if xla else 'off'} | failed: {r['error']} |||||||")
            continue
        print(f"| {strategy} | {'on' if xla else 'off'} | {r['replicas']} | "
              f"{r['global_batch'] // r['replicas']} | {r['first_step_s']:.0f} | "
              f"{r['step_s']:.2f} | {r['images_per_s']:.1f} | {r['best_images_per_s']:.1f} | "
              f"{r['cpu_s_per_step']:.2f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
