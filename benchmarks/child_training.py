"""Child-training speed: images/second, tracing time and time per trial, per preset.

For each preset, one child (NASNet-A by default) is trained in this process
through ``search_cifar.child_evaluator.ChildEvaluator``, the same code a search runs:

* ``measure_in_process(config, genotype, steps, validation_steps)`` trains two
  short epochs of ``steps`` steps (``steps_per_epoch`` set, the training set
  repeated) and reads the evaluator's own timings: build (network + compile),
  the first step (tracing + one step), steady-state images/second (each
  epoch's steps after its first), the validation trace (epoch 1's validation
  time minus epoch 2's) and the steady time per validation batch. It then
  EXTRAPOLATES the time of a full trial of the preset (``config.epochs`` epochs
  over the whole training split, validating on the whole validation split
  every epoch): build + first step + validation trace + epochs x (train steps /
  steady step rate + validation batches x validation step time).
* ``measure_full_trial(config, genotype)`` runs one complete ``evaluate`` and
  reports its wall time and reward (used for the ``tiny`` quickstart preset).

CIFAR presets run on CIFAR-shaped random data (``tfds.testing.mock_data``:
32x32x3 uint8 images, 10 classes, the real tfds input pipeline), with the
full-trial extrapolation for the real split sizes (45,000 train / 5,000
validation). ``benchmarks/ray_overhead.py`` calls ``measure_full_trial`` for
its in-process baseline.

    .venv/bin/python benchmarks/child_training.py                     # nasnet_search + tiny
    .venv/bin/python benchmarks/child_training.py --presets=small --steps=30
    .venv/bin/python benchmarks/child_training.py --jit_compile --mixed_precision=mixed_float16
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from typing import Any, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nasnet import known_genotypes  # noqa: E402
from nasnet.genotype import Genotype  # noqa: E402
from search_cifar import child_config as child  # noqa: E402
from search_cifar.child_config import ChildConfig  # noqa: E402
from search_cifar.child_evaluator import ChildEvaluator  # noqa: E402

#: CIFAR-10's training split (50,000) less the 5,000 validation images.
CIFAR_TRAIN, CIFAR_VALIDATION = 45_000, 5_000


@contextlib.contextmanager
def cifar_shaped_random_data(config: ChildConfig, num_examples: int):
    """tfds mock data for CIFAR configs (no files needed); nothing for others."""
    if config.data.is_digits:
        yield
        return
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=num_examples):
        yield


def _split_sizes(evaluator: ChildEvaluator) -> tuple[int, int]:
    """Full-trial train / validation sizes: the data's own, else CIFAR's."""
    info = evaluator.data_info
    if info.train_examples is not None and info.validation_examples is not None:
        return info.train_examples, info.validation_examples
    return CIFAR_TRAIN, CIFAR_VALIDATION


def measure_in_process(config: ChildConfig, genotype: Genotype = known_genotypes.NASNET_A,
                       steps: int = 15, validation_steps: int = 4,
                       mock_examples: int = 512) -> dict[str, Any]:
    """Timings of one child of ``config`` trained in this process (see module doc).

    Args:
        config: the preset to measure (its epochs and split sizes are used
            only for the extrapolation).
        genotype: the child's architecture.
        steps: training steps per measured epoch (two epochs are run).
        validation_steps: validation batches per measured epoch.
        mock_examples: examples per split of the random CIFAR-shaped data.

    Returns:
        A JSON-serialisable dict: ``build_s``, ``first_step_s``,
        ``images_per_s``, ``step_ms``, ``val_trace_s``, ``val_step_ms``,
        ``trial_s`` (extrapolated), ``num_params`` and the sizes it assumed.
    """
    batch = config.data.batch_size
    short = dataclasses.replace(config, epochs=2, steps_per_epoch=steps,
                                validation_steps=validation_steps, verbose=False)
    with cifar_shaped_random_data(config, mock_examples):
        evaluator = ChildEvaluator(short)
        start = time.perf_counter()
        result = evaluator.evaluate(genotype)
        wall = time.perf_counter() - start
    if not result.ok:
        raise RuntimeError(f"the measured child failed: {result.error}")
    m = result.metrics
    first, second = m["history"]
    images_per_s = second["images_per_second"]
    step_s = batch / images_per_s
    val_step_s = second["validation_seconds"] / validation_steps
    val_trace_s = max(0.0, first["validation_seconds"] - second["validation_seconds"])
    n_train, n_val = _split_sizes(evaluator)
    train_steps = n_train // batch
    val_batches = math.ceil(n_val / (config.data.eval_batch_size or batch))
    trial_s = (m["build_seconds"] + m["first_step_seconds"] + val_trace_s
               + config.epochs * (train_steps * step_s + val_batches * val_step_s))
    return {
        "genotype": genotype.name or genotype.fingerprint(),
        "num_params": m["num_params"],
        "batch_size": batch,
        "image_size": config.data.image_size,
        "build_s": m["build_seconds"],
        "first_step_s": m["first_step_seconds"],
        "images_per_s": images_per_s,
        "step_ms": 1000.0 * step_s,
        "val_trace_s": val_trace_s,
        "val_step_ms": 1000.0 * val_step_s,
        "epochs": config.epochs,
        "train_steps_per_epoch": train_steps,
        "val_batches_per_epoch": val_batches,
        "trial_s": trial_s,
        "trial_kind": "extrapolated",
        "measured_wall_s": wall,
    }


def measure_full_trial(config: ChildConfig, genotype: Genotype = known_genotypes.NASNET_A,
                       mock_examples: int = 512) -> dict[str, Any]:
    """One complete ``evaluate`` of ``config``: wall time, reward and timings."""
    with cifar_shaped_random_data(config, mock_examples):
        start = time.perf_counter()
        evaluator = ChildEvaluator(dataclasses.replace(config, verbose=False))
        data_s = time.perf_counter() - start
        start = time.perf_counter()
        result = evaluator.evaluate(genotype)
        wall = time.perf_counter() - start
    if not result.ok:
        raise RuntimeError(f"the measured child failed: {result.error}")
    m = result.metrics
    history = m["history"]
    return {
        "genotype": genotype.name or genotype.fingerprint(),
        "num_params": m["num_params"],
        "batch_size": config.data.batch_size,
        "image_size": config.data.image_size,
        "build_s": m["build_seconds"],
        "first_step_s": m["first_step_seconds"],
        "images_per_s": m["images_per_second"],
        "step_ms": 1000.0 * config.data.batch_size / m["images_per_second"],
        "val_trace_s": max(0.0, history[0]["validation_seconds"] - history[-1]["validation_seconds"])
        if len(history) > 1 else None,
        "epochs": config.epochs,
        "train_steps_per_epoch": evaluator.steps_per_epoch,
        "data_s": data_s,
        "trial_s": wall,
        "trial_kind": "measured",
        "reward": result.reward,
    }


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    header = ("preset", "data", "size", "params", "batch", "build s", "1st step s", "images/s",
              "step ms", "val trace s", "time per trial")
    lines = [header]
    for r in rows:
        lines.append((r["preset"], r["data"], r["size"], _fmt(r["num_params"]), _fmt(r["batch_size"]),
                      _fmt(r["build_s"]), _fmt(r["first_step_s"]), _fmt(r["images_per_s"]),
                      _fmt(r["step_ms"]), _fmt(r["val_trace_s"]),
                      f"{_duration(r['trial_s'])} ({r['trial_kind']}, {r['epochs']} ep)"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for i, line in enumerate(lines):
        print(" | ".join(str(c).ljust(w) for c, w in zip(line, widths)))
        if i == 0:
            print("-+-".join("-" * w for w in widths))


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="nasnet_search,tiny",
                        help=f"comma-separated, of {sorted(child.PRESETS)}")
    parser.add_argument("--full", default="tiny",
                        help="presets whose whole trial is run instead of extrapolated")
    parser.add_argument("--genotype", default="nasnet_a",
                        help="a published genotype name (nasnet.known_genotypes)")
    parser.add_argument("--steps", type=int, default=15, help="training steps per measured epoch")
    parser.add_argument("--validation_steps", type=int, default=4)
    parser.add_argument("--mixed_precision", default=None,
                        choices=[p for p in child.MIXED_PRECISION if p])
    parser.add_argument("--jit_compile", action="store_true")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    genotype = known_genotypes.get(args.genotype)
    full = {p for p in args.full.split(",") if p}
    rows = []
    for name in [p for p in args.presets.split(",") if p]:
        config = dataclasses.replace(child.preset(name), mixed_precision=args.mixed_precision,
                                     jit_compile=args.jit_compile)
        if name in full:
            row = measure_full_trial(config, genotype)
        else:
            row = measure_in_process(config, genotype, args.steps, args.validation_steps)
        data = config.data.dataset + ("" if config.data.is_digits else " (random)")
        row.update(preset=name, data=f"{data} {config.data.image_size}px",
                   size=f"N={config.network.backbone.num_cells_per_stack} "
                        f"F={config.network.backbone.num_conv_filters}")
        rows.append(row)
        print(f"{name}: {json.dumps(row, default=str)}", file=sys.stderr, flush=True)
    print_table(rows)
    print(f"{os.cpu_count()} CPUs; load average at the end (1, 5, 15 min): "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; wall-clock timings, so other "
          f"processes on a shared machine slow them down")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
