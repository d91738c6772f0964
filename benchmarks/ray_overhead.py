"""What running children on Ray costs, versus training the same child in-process.

Three measurements, printed as one table (wall-clock seconds):

1. In-process baseline: ``benchmarks/child_training.measure_full_trial``
   (``ChildEvaluator`` built and one child trained in this process), twice: the
   first trial pays TensorFlow's start-up, the second is warm.
2. The same child on Ray, as the search runs it: an embedded local Ray
   (``ray_executor.RayExecutor``, one worker with ``--cpus_per_trial`` CPUs,
   so the worker's TensorFlow gets as many threads as this process has cores)
   and ``evaluator.CachedEvaluator``, ``--trials`` times in a row. Reported:
   Ray's start-up (``ray.init``), each trial's wall time from submit to result,
   the time the worker itself spent (``run_on_worker``'s duration: building the
   evaluator on the first trial, then training) and the difference, the
   per-trial overhead of Ray (scheduling, pickling, the object store, and on
   the first trial the worker process and its imports).
3. The driver alone: ``scheduler.run`` with a zero-second synthetic evaluator
   (no training), ``--schedule_trials`` trials with the in-process executor and
   with 2 Ray workers, persisting records and state to a temporary directory:
   milliseconds per trial of bookkeeping, the floor of any search's overhead.

    .venv/bin/python benchmarks/ray_overhead.py                 # the quickstart's child
    .venv/bin/python benchmarks/ray_overhead.py --epochs=3 --trials=2 --json=/tmp/o.json

Wall-clock timings: on a shared machine other processes slow them down; the
load average is printed at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import child_training  # noqa: E402
from nasnet import known_genotypes  # noqa: E402
from search_cifar import child_config as child  # noqa: E402
from search_cifar import scheduler, strategies, synthetic  # noqa: E402
from search_cifar.child_evaluator import ChildEvaluator  # noqa: E402
from search_cifar.evaluator import CachedEvaluator  # noqa: E402
from search_cifar.executors import InProcessExecutor  # noqa: E402
from search_cifar.experiments import QUICKSTART  # noqa: E402
from search_cifar.ray_executor import RayExecutor  # noqa: E402
from search_cifar.trial_store import TrialStore  # noqa: E402


def measure_in_process(config: child.ChildConfig, genotype) -> list[dict[str, Any]]:
    """Two full trials in this process (cold, then warm)."""
    return [child_training.measure_full_trial(config, genotype) for _ in range(2)]


def measure_on_ray(config: child.ChildConfig, genotype, trials: int,
                   cpus_per_trial: float) -> dict[str, Any]:
    """The same child ``trials`` times on a one-worker local Ray."""
    start = time.perf_counter()
    executor = RayExecutor(num_workers=1, cpus_per_trial=cpus_per_trial)
    init_s = time.perf_counter() - start
    evaluator = CachedEvaluator(functools.partial(ChildEvaluator, config), cache_key="benchmark")
    rows = []
    try:
        for i in range(trials):
            start = time.perf_counter()
            executor.submit(i, evaluator, genotype)
            _, result, duration = executor.wait()
            wall = time.perf_counter() - start
            if not result.ok:
                raise RuntimeError(f"the child failed on Ray: {result.error}")
            m = result.metrics
            rows.append({"wall_s": wall, "worker_s": duration, "overhead_s": wall - duration,
                         "train_s": m.get("train_seconds"), "build_s": m.get("build_seconds"),
                         "first_step_s": m.get("first_step_seconds"),
                         "images_per_s": m.get("images_per_second"),
                         "reward": result.reward})
    finally:
        start = time.perf_counter()
        executor.close()
        shutdown_s = time.perf_counter() - start
    return {"init_s": init_s, "shutdown_s": shutdown_s, "trials": rows}


def measure_scheduler(num_trials: int) -> dict[str, float]:
    """ms per trial of ``scheduler.run`` bookkeeping, in-process and on 2 Ray workers."""
    space = QUICKSTART.build_space()
    evaluator = CachedEvaluator(
        functools.partial(synthetic.SyntheticEvaluator, num_blocks=space.num_blocks,
                          ops=[op.value for op in space.ops], seconds=0.0),
        cache_key="synthetic")
    out = {}
    for name in ("in_process", "ray_2_workers"):
        with tempfile.TemporaryDirectory() as workdir:
            executor = (InProcessExecutor() if name == "in_process"
                        else RayExecutor(num_workers=2))
            try:
                # One warm-up trial (Ray: the workers start), then the timed run.
                strategy = strategies.make("random", space, seed=0)
                store = TrialStore(workdir)
                scheduler.run(strategy, evaluator, 1, executor, store=store)
                start = time.perf_counter()
                scheduler.run(strategies.make("random", space, seed=0), evaluator,
                              1 + num_trials, executor, store=store)
                out[name] = 1000.0 * (time.perf_counter() - start) / num_trials
            finally:
                executor.close()
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny", help=f"child preset, of {sorted(child.PRESETS)}")
    parser.add_argument("--epochs", type=int, default=QUICKSTART.child.epochs,
                        help="epochs per child (default: the quickstart's)")
    parser.add_argument("--genotype", default="nasnet_a")
    parser.add_argument("--trials", type=int, default=3, help="children trained on Ray")
    parser.add_argument("--cpus_per_trial", type=float, default=float(os.cpu_count() or 1))
    parser.add_argument("--schedule_trials", type=int, default=100)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    config = dataclasses.replace(child.preset(args.preset), epochs=args.epochs, verbose=False)
    genotype = known_genotypes.get(args.genotype)

    local = measure_in_process(config, genotype)
    print(f"in-process: {json.dumps(local)}", file=sys.stderr, flush=True)
    ray_run = measure_on_ray(config, genotype, args.trials, args.cpus_per_trial)
    print(f"ray: {json.dumps(ray_run)}", file=sys.stderr, flush=True)
    sched = measure_scheduler(args.schedule_trials)

    warm_local = local[1]["trial_s"]
    warm_ray = ray_run["trials"][1:] or ray_run["trials"]
    rows = [
        ("in-process, cold: build evaluator + train", local[0]["data_s"] + local[0]["trial_s"]),
        ("in-process, warm: train", warm_local),
        ("Ray start-up (ray.init, 1 worker)", ray_run["init_s"]),
        ("Ray, first trial: submit -> result", ray_run["trials"][0]["wall_s"]),
        ("  of which in the worker (build evaluator + train)", ray_run["trials"][0]["worker_s"]),
        ("  of which Ray (worker start, imports, transfer)", ray_run["trials"][0]["overhead_s"]),
        ("Ray, warm trials: submit -> result (mean)",
         statistics.fmean(r["wall_s"] for r in warm_ray)),
        ("  of which in the worker (train)", statistics.fmean(r["worker_s"] for r in warm_ray)),
        ("  of which Ray per trial", statistics.fmean(r["overhead_s"] for r in warm_ray)),
        ("Ray shutdown", ray_run["shutdown_s"]),
    ]
    print(f"\nchild: {args.preset} preset, {args.epochs} epoch(s), genotype {args.genotype}; "
          f"Ray worker with {args.cpus_per_trial:g} CPUs")
    width = max(len(r[0]) for r in rows)
    for label, seconds in rows:
        print(f"{label.ljust(width)}  {seconds:8.2f} s")
    extra = 100.0 * (statistics.fmean(r["wall_s"] for r in warm_ray) / warm_local - 1.0)
    print(f"{'warm Ray trial vs in-process'.ljust(width)}  {extra:+8.1f} %")
    print(f"\nscheduler bookkeeping per trial (scheduler.run, records + state persisted, "
          f"{args.schedule_trials} zero-second trials):")
    for name, ms in sched.items():
        print(f"  {name.ljust(16)} {ms:8.1f} ms")
    print(f"\n{os.cpu_count()} CPUs; load average at the end (1, 5, 15 min): "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    result = {"in_process": local, "ray": ray_run, "scheduler_ms_per_trial": sched,
              "warm_ray_vs_in_process_percent": extra}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
