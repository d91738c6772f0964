"""Supernet speed: steps/second with a fixed vs a changing architecture, and the ENAS projection.

For each size, a ``search_cifar.weight_sharing`` supernet is built with its
trainer (the same code the search runs) and fed random images of the right
shape from memory (no input pipeline cost). Measured, after the first
(tracing) call of each traced function:

* training steps with ONE architecture for every step ("fixed") and with a
  NEW uniformly drawn architecture every step ("changing"), in interleaved
  rounds so that machine drift hits both alike: median wall seconds per step,
  CPU seconds per step (process time; all cores), images/second; the number
  of traces must stay 1 (the architecture is a tensor);
* the reward evaluation (one validation minibatch, forward only) per call.

Then the projection of the size's search: an epoch is
``train_examples // batch`` training steps plus
``controller_steps x architectures_per_step`` reward evaluations; times
``epochs``, plus the derivation (``num_candidates x validation_batches``
evaluations), from the changing-architecture step time. Sizes:

* ``tiny``: the ``enas_quickstart`` supernet (3-block cells of 5 ops, N = 1,
  F = 8) at 16 px, batch 32; projected for its own 1,347 digits, 15 epochs.
* ``paper``: ENAS's micro search (``enas_cifar10``: 5-block cells of 5 ops,
  child_num_layers = 6 i.e. N = 2, F = 20, aux head) at 32x32x3, batch 160;
  projected for 150 epochs of 45,000 CIFAR-10 images, 30 x 10 rewards per
  epoch (the issue's goal on a GPU: at most 12 hours).

``--variants`` measures each size under several precisions and with or
without XLA (``training.mixed_precision``, ``training.jit_compile`` of the
search's config): ``float32``, ``mixed_float16``, ``mixed_bfloat16``, each
optionally ``+xla``. The first step of an XLA variant includes compiling.

Runs on whatever device TensorFlow picks (a GPU when there is one). Nothing
is written unless ``--output_json`` is given.

    .venv/bin/python benchmarks/supernet.py --sizes=tiny --steps=5 --rounds=2   # a check
    .venv/bin/python benchmarks/supernet.py --sizes=tiny,paper                   # both sizes
    .venv/bin/python benchmarks/supernet.py --sizes=paper --steps=20 --rounds=5 --output_json=out/supernet.json
    # on a GPU: the precisions and XLA
    .venv/bin/python benchmarks/supernet.py --sizes=paper --variants=float32,mixed_float16,mixed_float16+xla
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from nasnet import io_utils  # noqa: E402
from search_cifar.strategies.base import new_rng, random_choices  # noqa: E402
from search_cifar.weight_sharing import architecture as arch_lib  # noqa: E402
from search_cifar.weight_sharing import config as config_lib  # noqa: E402
from search_cifar.weight_sharing.supernet import Supernet  # noqa: E402
from search_cifar.weight_sharing.training import SupernetTrainer  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Size:
    name: str
    preset: str
    image_size: int
    batch: int
    train_examples: int      # of the projected search's training set


SIZES = {
    "tiny": Size("tiny", "enas_quickstart", 16, 32, 1_347),
    "paper": Size("paper", "enas_cifar10", 32, 160, 45_000),
}


@dataclasses.dataclass(frozen=True)
class Variant:
    """How the supernet trains: a ``config_lib.PRECISIONS`` policy, with XLA or not."""
    precision: str = "float32"
    xla: bool = False

    @property
    def name(self) -> str:
        return self.precision + ("+xla" if self.xla else "")


def parse_variant(text: str) -> Variant:
    """``float32``, ``mixed_float16+xla``, ...; ValueError naming a bad one."""
    precision, plus, rest = text.strip().partition("+")
    if precision not in config_lib.PRECISIONS or (plus and rest != "xla"):
        raise ValueError(f"unknown variant {text.strip()!r}: a precision of "
                         f"{', '.join(config_lib.PRECISIONS)}, optionally followed by +xla")
    return Variant(precision, bool(plus))


def _timed(fn, steps: int) -> tuple[list[float], float]:
    """Per-call wall seconds of ``steps`` calls and their total CPU seconds."""
    walls = []
    cpu = time.process_time()
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
    return walls, time.process_time() - cpu


def measure(size: Size, steps: int, rounds: int, seed: int = 0,
            variant: Variant = Variant()) -> dict[str, Any]:
    config = config_lib.override(config_lib.get(size.preset), {
        "training.mixed_precision": variant.precision, "training.jit_compile": variant.xla})
    space = config.space()
    holds = config.supernet.holds()
    tf_keras.backend.clear_session()
    tf_keras.utils.set_random_seed(seed)
    strategy = tf.distribute.get_strategy()
    start = time.perf_counter()
    model = Supernet(config.supernet, num_classes=10, image_size=size.image_size, seed=seed,
                     mixed_precision=variant.precision)
    steps_per_epoch = size.train_examples // size.batch   # remainder dropped, as in the search
    trainer = SupernetTrainer(model, config.training, steps_per_epoch, strategy)
    build_seconds = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    images = rng.normal(size=[size.batch, size.image_size, size.image_size, 3]).astype(np.float32)
    labels = rng.integers(0, 10, size.batch)
    data = tf.data.Dataset.from_tensors((images, labels)).repeat()
    train_it = iter(strategy.experimental_distribute_dataset(data))
    eval_data = tf.data.Dataset.from_tensors((images, labels)).repeat()
    # The search's reward stream has an unknown static batch size; so does this one.
    eval_data = eval_data.unbatch().batch(config.controller.reward_batch_size)
    eval_it = iter(strategy.experimental_distribute_dataset(eval_data))
    draws = new_rng(seed, 1)

    def arch() -> tf.Tensor:
        return tf.constant(arch_lib.encode(space, holds, random_choices(draws, space.num_choices)))

    fixed = arch()
    start = time.perf_counter()
    trainer.train_step(train_it, fixed)
    first_train = time.perf_counter() - start
    start = time.perf_counter()
    trainer.eval_step(eval_it, fixed)
    first_eval = time.perf_counter() - start
    results: dict[str, list[float]] = {"fixed": [], "changing": [], "eval": []}
    cpu: dict[str, float] = {"fixed": 0.0, "changing": 0.0, "eval": 0.0}
    for _ in range(rounds):
        archs = [arch() for _ in range(steps)]
        walls, c = _timed(lambda: trainer.train_step(train_it, fixed), steps)
        results["fixed"] += walls
        cpu["fixed"] += c
        queue = iter(archs)
        walls, c = _timed(lambda: trainer.train_step(train_it, next(queue)), steps)
        results["changing"] += walls
        cpu["changing"] += c
        queue = iter(archs)
        walls, c = _timed(lambda: trainer.eval_step(eval_it, next(queue)), steps)
        results["eval"] += walls
        cpu["eval"] += c
    traces = (trainer.train_step.experimental_get_tracing_count(),
              trainer.eval_step.experimental_get_tracing_count())
    out: dict[str, Any] = {
        "size": size.name, "preset": size.preset, "image_size": size.image_size,
        "variant": variant.name,
        "batch": size.batch, "parameters": int(model.count_params()),
        "build_seconds": build_seconds, "first_train_step_seconds": first_train,
        "first_eval_seconds": first_eval, "traces": {"train": traces[0], "eval": traces[1]},
        "device": "GPU" if tf.config.list_logical_devices("GPU") else "CPU"}
    n = steps * rounds
    for kind in ("fixed", "changing", "eval"):
        median = statistics.median(results[kind])
        batch = size.batch if kind != "eval" else config.controller.reward_batch_size
        out[kind] = {"seconds_per_step": median, "steps_per_second": 1.0 / median,
                     "cpu_seconds_per_step": cpu[kind] / n, "images_per_second": batch / median}
    c = config.controller
    rewards = c.steps_per_epoch * c.architectures_per_step
    epoch = steps_per_epoch * out["changing"]["seconds_per_step"] + rewards * out["eval"]["seconds_per_step"]
    val_batches = config.derive.validation_batches or math.ceil(5000 / config.data.batch_size)
    derive = config.derive.num_candidates * val_batches * out["eval"]["seconds_per_step"]
    out["projection"] = {
        "epochs": config.training.epochs, "train_steps_per_epoch": steps_per_epoch,
        "rewards_per_epoch": rewards, "seconds_per_epoch": epoch,
        "search_hours": (config.training.epochs * epoch + derive) / 3600.0,
        "cpu_hours": (config.training.epochs * (
            steps_per_epoch * out["changing"]["cpu_seconds_per_step"]
            + rewards * out["eval"]["cpu_seconds_per_step"])) / 3600.0}
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| size | variant | device | params | first step (s) | fixed: s/step | "
             "changing: s/step | changing: img/s | CPU s/step (fixed / changing) | "
             "reward eval (s) | traces | projected search (h) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['size']} ({r['image_size']} px, batch {r['batch']}) | "
            f"{r.get('variant', 'float32')} | {r['device']} | "
            f"{r['parameters']:,} | {r['first_train_step_seconds']:.1f} | "
            f"{r['fixed']['seconds_per_step']:.3f} | {r['changing']['seconds_per_step']:.3f} | "
            f"{r['changing']['images_per_second']:.0f} | "
            f"{r['fixed']['cpu_seconds_per_step']:.3f} / {r['changing']['cpu_seconds_per_step']:.3f} | "
            f"{r['eval']['seconds_per_step']:.3f} | {r['traces']['train']}/{r['traces']['eval']} | "
            f"{r['projection']['search_hours']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="tiny,paper", help=f"comma list of {sorted(SIZES)}")
    parser.add_argument("--steps", type=int, default=10, help="steps per kind per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--variants", default="float32",
                        help="comma list of precisions (float32, mixed_float16, "
                             "mixed_bfloat16), each optionally +xla")
    parser.add_argument("--output_json", default=None)
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = sorted(set(names) - set(SIZES))
    if unknown or not names:
        parser.error(f"unknown size(s) {unknown}; known: {sorted(SIZES)}")
    if args.steps < 1 or args.rounds < 1:
        parser.error("--steps and --rounds must be >= 1")
    try:
        variants = [parse_variant(v) for v in args.variants.split(",") if v.strip()]
    except ValueError as e:
        parser.error(str(e))
    if not variants:
        parser.error(f"--variants names no variant: {args.variants!r}")
    rows = []
    for name in names:
        for variant in variants:
            row = measure(SIZES[name], args.steps, args.rounds, variant=variant)
            rows.append(row)
            p = row["projection"]
            label = f"{name} {variant.name}"
            print(f"{label}: {json.dumps({k: row[k] for k in ('fixed', 'changing', 'eval')})}")
            print(f"{label}: projected {p['epochs']} epochs x ({p['train_steps_per_epoch']} "
                  f"steps + {p['rewards_per_epoch']} rewards) = {p['search_hours']:.2f} h on "
                  f"this {row['device']} ({p['cpu_hours']:.2f} CPU-hours)", flush=True)
    print(table(rows))
    if args.output_json:
        io_utils.atomic_write_json(args.output_json, {"rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
