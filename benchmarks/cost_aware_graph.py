"""Cost-aware rewards on a real table: searches under a latency target on NAS-Bench-Graph.

Issue 13 B, item 4, the many-seed half: NAS-Bench-Graph (``search_cifar/
graph_benchmark.py``) records every architecture's measured inference latency
and parameter count beside its accuracies, so the front a cost-aware search
finds can be compared with the table's true accuracy-latency Pareto front,
over many seeds, in seconds (the digits half, with real children, is
``benchmarks/cost_aware_search.py``).

For each dataset, strategy, reward and seed, one search of ``--budget``
distinct architectures (``scheduler.run_in_process``). The reward is
``search_cifar.reward.RewardConfig``'s MnasNet form on the table's validation
accuracy and latency: ``accuracy`` (no cost term: the unconstrained search),
``soft`` (w = -0.07) and ``hard`` (w = 0 under the target, -1 over it), with
the target T = the table's 25th-percentile latency (``--target_quantile``:
at the median the target hardly binds, a quarter of random proposals are
within 10 % of it). Per
search, with the table's *test* accuracy as the truth:

* **near T**: the share of the proposals after the first quarter of the
  budget whose latency is within +-10 % of T (what the reward steers);
* **best <= T**: the best test accuracy among the evaluated architectures at or
  under T, and its gap to the table's best at or under T;
* **HV ratio**: the hypervolume of the evaluated architectures' front (test
  accuracy against latency; ``pareto.hypervolume``) over that of the table's
  true front, both in the box from the table's 90th-percentile latency and
  median test accuracy (``hypervolume_reference``); 1 = the true front found.

Random search is the reference row (its proposals ignore the reward).
Evolution runs with P = 20, S = 5 (``objectives.STRATEGY_OPTIONS``), the
others with their defaults.

Usage:
    python -m benchmarks.cost_aware_graph --seeds 20 --json out/cost_aware_graph.json
    python -m benchmarks.cost_aware_graph --seeds 2 --budget 40 --datasets cora   # a check
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import statistics
import sys
import time
from typing import Any, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from nasnet import io_utils  # noqa: E402
from search_cifar import graph_benchmark, objectives, pareto, reward, scheduler  # noqa: E402
from search_cifar import strategies  # noqa: E402
from search_cifar.evaluator import Result  # noqa: E402

DATASETS = ("cora", "citeseer", "arxiv")
STRATEGIES = ("random", "evolution", "rl")
REWARDS = ("accuracy", "soft", "hard")
BUDGET = 150
SEEDS = 20


class CostAwareGraphObjective:
    """NAS-Bench-Graph's validation accuracy, rewarded by ``config`` with the table's
    latency as the cost (``reward.RewardConfig.reward``); the records keep both."""

    def __init__(self, table: graph_benchmark.NasBenchGraphObjective,
                 config: reward.RewardConfig):
        self.table, self.config, self.space = table, config, table.space

    def evaluate(self, choices: Sequence[int], report: Any = None) -> Result:
        del report
        try:
            accuracy, latency = self.table.reward(choices), self.table.latency_ms(choices)
        except ValueError as e:  # the all-skip network, which the table leaves out
            return Result(reward=None, error=str(e))
        return Result(reward=self.config.reward(accuracy, latency),
                      metrics={reward.ACCURACY: accuracy,
                               reward.COST: {"latency_ms": latency}})


def reward_config(kind: str, target_ms: float) -> reward.RewardConfig:
    return reward.RewardConfig(kind=kind, cost="latency", target_latency_ms=target_ms)


def hypervolume_reference(truth: dict[str, np.ndarray]) -> tuple[float, float]:
    """The hypervolume box's worst corner: the table's 90th-percentile latency and median
    test accuracy. With the table's extremes instead, the box is dominated by networks
    that are both fast and mediocre, and even random search scores 0.9 of the truth."""
    return (float(np.quantile(truth["latency_ms"], 0.9)), float(np.median(truth["test"])))


@dataclasses.dataclass(frozen=True)
class Truth:
    """A dataset's table and what every search on it is measured against: loaded, and
    the true front's hypervolume computed, once per dataset (``truth``)."""

    table: graph_benchmark.NasBenchGraphObjective
    target_ms: float
    reference: tuple[float, float]
    true_hv: float
    best_under_table: float


@functools.lru_cache(maxsize=None)
def truth(dataset: str, quantile: float) -> Truth:
    table = graph_benchmark.NasBenchGraphObjective(dataset)
    rows = table.table()
    target_ms = float(np.quantile(rows["latency_ms"], quantile))
    reference = hypervolume_reference(rows)
    return Truth(table, target_ms, reference,
                 pareto.hypervolume(zip(rows["latency_ms"], rows["test"]), reference),
                 float(rows["test"][rows["latency_ms"] <= target_ms].max()))


def measure(trials: Sequence[Any], true: Truth, budget: int) -> dict[str, float]:
    """The numbers of one search (see the module docstring) from its trial records."""
    table, target_ms = true.table, true.target_ms
    evaluated = [t for t in trials if t.status == "ok"]
    points = [(table.latency_ms(t.choices), table.true_value(t.choices)) for t in evaluated]
    after = [p for t, p in zip(evaluated, points) if t.evaluation is not None
             and t.evaluation >= budget // 4]
    near = [p for p in after if abs(p[0] / target_ms - 1.0) <= pareto.TARGET_BAND]
    under = [a for c, a in points if c <= target_ms]
    best_under = max(under) if under else float("nan")
    return {"near_target_share": len(near) / len(after) if after else float("nan"),
            "best_test_at_or_under_target": best_under,
            "gap_at_or_under_target": true.best_under_table - best_under,
            "hv_ratio": pareto.hypervolume(points, true.reference) / true.true_hv}


def run_one(dataset: str, strategy: str, kind: str, seed: int, budget: int,
            quantile: float) -> dict[str, Any]:
    true = truth(dataset, quantile)
    objective = CostAwareGraphObjective(true.table, reward_config(kind, true.target_ms))
    s = strategies.make(strategy, true.table.space, seed=seed,
                        **objectives.STRATEGY_OPTIONS.get(strategy, {}))
    cpu = time.process_time()
    result = scheduler.run_in_process(s, objective, budget=budget)
    cpu = time.process_time() - cpu
    return {"dataset": dataset, "strategy": strategy, "reward": kind, "seed": seed,
            "target_ms": true.target_ms, "cpu_s": cpu, **measure(result.trials, true, budget)}


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{dataset: {"strategy/reward": {metric: mean, metric_sd: sd}}}``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["dataset"], f"{r['strategy']}/{r['reward']}"), []).append(r)
    for (dataset, label), rows in groups.items():
        cell: dict[str, float] = {"seeds": len(rows)}
        for metric in ("near_target_share", "gap_at_or_under_target", "hv_ratio", "cpu_s"):
            values = [r[metric] for r in rows if not np.isnan(r[metric])]
            cell[metric] = statistics.fmean(values) if values else float("nan")
            cell[f"{metric}_sd"] = statistics.pstdev(values) if len(values) > 1 else 0.0
        out.setdefault(dataset, {})[label] = cell
    return out


def markdown(summary: dict[str, dict[str, dict[str, float]]], targets: dict[str, float],
             budget: int) -> str:
    lines = []
    for dataset, rows in summary.items():
        lines += [f"**{dataset}** (T = {targets[dataset]:.2f} ms, budget {budget})", "",
                  "| strategy / reward | near T after 1/4 | gap to best <= T | HV / true HV |",
                  "|---|---|---|---|"]
        for label, c in rows.items():
            lines.append(f"| {label} | {c['near_target_share']:.2f} ± "
                         f"{c['near_target_share_sd']:.2f} | {c['gap_at_or_under_target']:.4f} ± "
                         f"{c['gap_at_or_under_target_sd']:.4f} | {c['hv_ratio']:.3f} ± "
                         f"{c['hv_ratio_sd']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"known: {','.join(graph_benchmark.DATASETS)}")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--rewards", default=",".join(REWARDS))
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--target_quantile", type=float, default=0.25,
                        help="the latency target T as a quantile of the table's latencies")
    parser.add_argument("--json", default=None, help="also write the runs and summary here")
    args = parser.parse_args(argv)
    datasets = args.datasets.split(",")
    names = args.strategies.split(",")
    kinds = args.rewards.split(",")
    if unknown := sorted(set(datasets) - set(graph_benchmark.DATASETS)):
        parser.error(f"unknown datasets {unknown}; known: {list(graph_benchmark.DATASETS)}")
    if unknown := sorted(set(names) - set(strategies.names())):
        parser.error(f"unknown strategies {unknown}; known: {strategies.names()}")
    if unknown := sorted(set(kinds) - set(REWARDS)):
        parser.error(f"unknown rewards {unknown}; known: {list(REWARDS)}")
    if args.seeds < 1 or args.budget < 4:
        parser.error(f"--seeds must be >= 1 and --budget >= 4, got {args.seeds}, {args.budget}")
    if not 0.0 < args.target_quantile < 1.0:
        parser.error(f"--target_quantile must be in (0, 1), got {args.target_quantile}")
    if args.json:
        try:
            io_utils.check_writable_directory(os.path.dirname(os.path.abspath(args.json)))
        except ValueError as e:
            parser.error(f"--json: {e}")
    runs = []
    for dataset in datasets:
        for name in names:
            # Random search ignores its reward: one row, under the unconstrained reward.
            for kind in (["accuracy"] if name == "random" else kinds):
                for seed in range(args.seeds):
                    runs.append(run_one(dataset, name, kind, seed, args.budget,
                                        args.target_quantile))
                last = runs[-1]
                print(f"{dataset} {name}/{kind}: {args.seeds} seeds, last HV ratio "
                      f"{last['hv_ratio']:.3f}", flush=True)
    targets = {r["dataset"]: r["target_ms"] for r in runs}
    summary = summarize(runs)
    text = markdown(summary, targets, args.budget)
    print(text)
    out = {"budget": args.budget, "seeds": args.seeds, "target_quantile": args.target_quantile,
           "targets_ms": targets, "summary": summary, "runs": runs}
    if args.json:
        io_utils.atomic_write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
