"""Training-step speed: our NASNet-A Mobile vs tf_keras.applications.NASNetMobile.

Both models are built in one process with the same input, batch, loss and
optimizer; each timed step is one forward + backward + SGD update inside a
``tf.function``. Runs alternate between the two models (A B A B ...) so load
from other processes on a shared machine hits both alike. Prints images/second
(wall clock) and CPU seconds per step (all of this process's threads: far less
sensitive than wall time to other processes on a shared machine), and the
ratios ours / Keras per setting.

    .venv/bin/python benchmarks/nasnet_vs_keras.py                 # 224/32 and 32/128
    .venv/bin/python benchmarks/nasnet_vs_keras.py --settings=32x128 --steps=10 --repeats=3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from nasnet import known_genotypes, networks  # noqa: E402


def make_step(model, logits_of):
    optimizer = tf_keras.optimizers.SGD(0.01)
    loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, logits_of(model(images, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return step


def build_pair(size: int):
    config = dataclasses.replace(networks.MOBILE, image_size=size, use_aux_head=False,
                                 dense_dropout_keep_prob=1.0)
    ours = networks.build_classifier(known_genotypes.NASNET_A, config)
    # include_top builds the 1000-way head; 32 px needs include_top=False + our own head.
    base = tf_keras.applications.NASNetMobile(weights=None, include_top=False,
                                              input_shape=(size, size, 3), pooling="avg")
    keras = tf_keras.Sequential([base, tf_keras.layers.Dense(1000)])
    return {"ours": (ours, _logits_of_dict), "keras": (keras, _identity)}


def _logits_of_dict(outputs):
    return outputs["logits"]


def _identity(outputs):
    return outputs


def time_steps(step, images, labels, steps: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) per step."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = step(images, labels)
    float(loss)  # wait for the last step
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="224x32,32x128",
                        help="comma-separated IMAGESIZExBATCH settings")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats per model")
    args = parser.parse_args(argv)

    rows = []
    for setting in args.settings.split(","):
        size, batch = (int(v) for v in setting.lower().split("x"))
        models = build_pair(size)
        images = tf.random.uniform([batch, size, size, 3])
        labels = tf.random.uniform([batch], maxval=1000, dtype=tf.int32)
        steps, times, cpus = {}, {name: [] for name in models}, {name: [] for name in models}
        for name, (model, logits_of) in models.items():
            steps[name] = make_step(model, logits_of)
            start = time.perf_counter()
            steps[name](images, labels)  # trace + first step
            print(f"{setting} {name}: {model.count_params():,} parameters, first step "
                  f"(trace) {time.perf_counter() - start:.1f}s", flush=True)
            time_steps(steps[name], images, labels, 1)  # warm-up
        for r in range(args.repeats):
            for name in models:
                seconds, cpu = time_steps(steps[name], images, labels, args.steps)
                times[name].append(seconds)
                cpus[name].append(cpu)
                print(f"  repeat {r + 1} {name}: {seconds:.3f} s/step, "
                      f"{batch / seconds:.1f} images/s, {cpu:.3f} CPU s/step", flush=True)
        best = {name: min(t) for name, t in times.items()}
        med = {name: statistics.median(t) for name, t in times.items()}
        cpu = {name: statistics.median(t) for name, t in cpus.items()}
        rows.append((setting, batch / med["ours"], batch / med["keras"],
                     best["keras"] / best["ours"], med["keras"] / med["ours"],
                     cpu["ours"], cpu["keras"]))

    print("\n| input x batch | ours images/s (median) | Keras images/s (median) "
          "| speed ratio ours/Keras (best) | (median) | ours CPU s/step | Keras CPU s/step "
          "| CPU ratio Keras/ours |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for setting, ours, keras, ratio_best, ratio_med, cpu_ours, cpu_keras in rows:
        print(f"| {setting} | {ours:.1f} | {keras:.1f} | {ratio_best:.2f} | {ratio_med:.2f} "
              f"| {cpu_ours:.2f} | {cpu_keras:.2f} | {cpu_keras / cpu_ours:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
