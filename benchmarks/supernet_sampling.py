"""How well shared weights learn under each way of sampling architectures (issue 12's diagnosis).

The weight-sharing search's supernet (``search_cifar.weight_sharing``, the
``enas_quickstart`` preset by default: digits at 16 px, 3-block cells of 5 ops,
N = 1, F = 8) is trained for ``--epochs`` epochs with the search's own trainer
and data streams, the architecture of each step chosen by ``--modes``:

* ``fixed``: one architecture every step (a stand-alone child built of the
  supernet's layers: the ceiling);
* ``pool<k>``: k architectures in turn (e.g. ``pool5``);
* ``ops``: the inputs of the fixed architecture, fresh uniform ops every step;
* ``inputs``: the ops of the fixed architecture, fresh uniform inputs every step;
* ``random``: a fresh uniform architecture every step (the start of an ENAS
  search, and all of random search with weight sharing).

Reported per mode: the running training accuracy of each epoch, the
validation accuracy (the whole validation split, the derivation's scoring) of
the architectures trained on ("seen": the fixed one, or the pool's) and of
``--unseen`` uniform architectures never trained on, and the CPU seconds.
With ``--standalone=RESULTS.json`` (``benchmarks/enas_vs_evolution.py``'s
output) the supernet's estimates of that run's Kendall-tau cells are ranked
against their stand-alone accuracies, per mode.

Measured on 2 CPU cores (README, "Weight-sharing search"): the fixed
architecture reaches 0.98 validation accuracy in 5 epochs and five in turn
0.97; with a fresh architecture every step the mean is about 0.34 after 20
epochs, and architectures outside a pool of five score about 0.15 (chance is
0.10). The shared weights do not transfer between architectures at this
size and budget, which is why the searched cell is no better than a random
one (``benchmarks/enas_vs_evolution.py``). With 40 epochs the training
accuracy reaches 0.52 and the unseen mean 0.64, still rising: a budget, not
a plateau. ``--override`` tries a change (any field of
``WeightSharingConfig`` by dotted key, e.g.
``--override=training.learning_rate_max=0.01``) without editing the preset.

    .venv/bin/python benchmarks/supernet_sampling.py --epochs=8
    .venv/bin/python benchmarks/supernet_sampling.py --modes=random --epochs=20 \\
        --standalone=out/enas_vs_evolution/results.json --json=out/sampling.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from benchmarks.enas_vs_evolution import kendall_tau, random_cells  # noqa: E402
from nasnet import io_utils  # noqa: E402
from nasnet.genotype import Genotype  # noqa: E402
from search_cifar import strategies  # noqa: E402
from search_cifar.experiments import parse_override  # noqa: E402
from search_cifar.weight_sharing import config as config_lib  # noqa: E402
from search_cifar.weight_sharing.evaluator import SupernetEvaluator  # noqa: E402
from search_cifar.weight_sharing.pipelines import SearchData  # noqa: E402
from search_cifar.weight_sharing.supernet import Supernet  # noqa: E402
from search_cifar.weight_sharing.training import SupernetTrainer  # noqa: E402

FIXED_MODES = ("fixed", "ops", "inputs", "random")


def check_mode(mode: str) -> str:
    if mode in FIXED_MODES:
        return mode
    if mode.startswith("pool") and mode[4:].isdigit() and int(mode[4:]) >= 1:
        return mode
    raise ValueError(f"unknown mode {mode!r}; known: {', '.join(FIXED_MODES)}, pool<k> (k >= 1)")


def step_architectures(mode: str, fixed: Sequence[Sequence[int]], fresh: list[list[int]],
                       decisions_per_cell_block: int) -> list[list[int]]:
    """One epoch's architectures (choices) under ``mode``; ``fresh`` are uniform draws.

    A block's decisions per cell are (input_a, op_a, input_b, op_b): ops at odd
    positions, inputs at even ones (``search_cifar.space``).
    """
    steps = len(fresh)
    if mode == "fixed":
        return [list(fixed[0])] * steps
    if mode.startswith("pool"):
        k = int(mode[4:])
        return [list(fixed[i % k]) for i in range(steps)]
    if mode == "random":
        return fresh
    keep_ops = mode == "inputs"  # "inputs": fresh inputs, the fixed ops
    out = []
    for arch in fresh:
        out.append([c if ((i % decisions_per_cell_block) % 2 == 1) != keep_ops else fixed[0][i]
                    for i, c in enumerate(arch)])
    return out


def run_mode(config: config_lib.WeightSharingConfig, mode: str, epochs: int, unseen: int,
             tau_cells: Sequence[Genotype], seed: int) -> dict[str, Any]:
    """Trains a fresh supernet under ``mode``; its learning curve and scores."""
    tf_keras.utils.set_random_seed(seed)
    space = config.space()
    sampler = strategies.make("random", space, seed=seed + 1)
    data = SearchData(config.data, 1, config.controller.reward_batch_size,
                      config.training.steps_per_epoch)
    model = Supernet(config.supernet, data.info.num_classes, config.data.image_size, seed=seed,
                     mixed_precision=config.training.mixed_precision)
    trainer = SupernetTrainer(model, config.training, data.steps_per_epoch,
                              tf.distribute.get_strategy())
    evaluator = SupernetEvaluator(trainer, space)
    pool = int(mode[4:]) if mode.startswith("pool") else 1
    trained = [list(c) for c in sampler.sample(pool)]
    cpu, wall = time.process_time(), time.perf_counter()
    curve = []
    for epoch in range(epochs):
        fresh = [list(c) for c in sampler.sample(data.steps_per_epoch)]
        archs = step_architectures(mode, trained, fresh, space.decisions_per_cell_block)
        iterator = iter(data.train(epoch))
        correct = count = 0
        for arch in archs:
            _, c, n = trainer.train_step(iterator, evaluator.architecture(arch))
            correct, count = correct + int(c), count + int(n)
        curve.append(correct / count)
        print(f"  {mode} epoch {epoch + 1}/{epochs}: training accuracy {curve[-1]:.3f}, "
              f"{time.process_time() - cpu:.0f} CPU-s", flush=True)
    train_cpu = time.process_time() - cpu

    def score(points: Sequence[Any]) -> list[float]:
        return [evaluator.score(p, data.validation()).reward for p in points]

    never = [list(c) for c in sampler.sample(unseen)]
    out = {"mode": mode, "epochs": epochs, "steps_per_epoch": data.steps_per_epoch,
           "training_accuracy": curve, "seen": score(trained), "unseen": score(never),
           "training_cpu_seconds": train_cpu, "cpu_seconds": time.process_time() - cpu,
           "wall_seconds": time.perf_counter() - wall}
    if tau_cells:
        out["tau_estimates"] = score(tau_cells)
    return out


def load_standalone(path: str) -> tuple[list[Genotype], list[float]]:
    """The tau cells of an ``enas_vs_evolution.py`` run and their stand-alone accuracies."""
    with open(path) as f:
        results = json.load(f)
    cells = results["tau"]["cells"]
    genotypes = random_cells(len(cells), seed=0, tiny=bool(results.get("tiny")))
    if [g.fingerprint() for g in genotypes] != [c["fingerprint"] for c in cells]:
        raise ValueError(f"{path}: its tau cells are not this version's random_cells(seed=0)")
    return genotypes, [float(c["standalone"]) for c in cells]


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| mode | training accuracy, last epoch | validation, seen (mean) | "
             "validation, unseen (mean) | Kendall tau | CPU-s |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        tau = f"{r['tau']['tau']:+.2f} (p {r['tau']['p_value']:.2f})" if "tau" in r else "-"
        lines.append(f"| {r['mode']} | {r['training_accuracy'][-1]:.3f} | "
                     f"{statistics.fmean(r['seen']):.3f} | "
                     f"{statistics.fmean(r['unseen']) if r['unseen'] else float('nan'):.3f} | "
                     f"{tau} | {r['cpu_seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="enas_quickstart", help="a weight-sharing preset")
    parser.add_argument("--modes", default="fixed,pool5,ops,inputs,random")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--unseen", type=int, default=20, help="never-trained architectures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--override", action="append", default=[],
                        help="key=value of the preset's WeightSharingConfig (repeatable)")
    parser.add_argument("--standalone", default=None,
                        help="an enas_vs_evolution.py results.json: Kendall tau per mode")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    try:
        modes = [check_mode(m.strip()) for m in args.modes.split(",") if m.strip()]
        if not modes:
            raise ValueError(f"--modes names no mode: {args.modes!r}")
        for name, value, low in (("--epochs", args.epochs, 1), ("--unseen", args.unseen, 0)):
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        overrides = dict(parse_override(o) for o in args.override)
        overrides.setdefault("training.epochs", args.epochs)
        overrides.setdefault("training.restart_period_epochs", args.epochs)
        config = config_lib.override(config_lib.get(args.preset), overrides)
        cells, truth = load_standalone(args.standalone) if args.standalone else ([], [])
    except (ValueError, KeyError, OSError) as e:
        parser.exit(2, f"supernet_sampling: {e}\n")
    results = []
    for mode in modes:
        print(f"{mode}: {args.epochs} epochs of {args.preset}", flush=True)
        r = run_mode(config, mode, args.epochs, args.unseen, cells, args.seed)
        if truth:
            r["tau"] = kendall_tau(r["tau_estimates"], truth)
        results.append(r)
    print(table(results))
    if args.json:
        io_utils.atomic_write_json(args.json, {"preset": args.preset, "overrides": overrides,
                                               "results": results})
    return results


if __name__ == "__main__":
    main()
