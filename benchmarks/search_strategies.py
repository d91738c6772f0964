"""Search quality of every strategy on synthetic problems with a known optimum.

For each objective of ``search_cifar/objectives.py`` and each strategy, runs
one search per seed (seed s: objective instance s, its noise and strategy seed
s) in process (``scheduler.run_in_process``, the search driver with the
in-process executor) up to the largest budget, and reports at each budget,
over the seeds:

* the mean and standard deviation of the regret (``1 - true value`` of the
  incumbent: the best *observed* full-size architecture, see
  ``objectives.incumbent_metrics``),
* P(top 0.1%): the fraction of seeds whose incumbent is in the top 0.1% of the
  space (exact threshold for ``interaction_6x5``, sampled for ``nasnet_b3_5ops``),
* the ratio of the mean regret to random search's;

and per strategy the wall time and the CPU milliseconds per trial of this
process (``time.process_time``: strategy, driver and objective together; on a
shared machine CPU time is steadier than wall time).

A search run to the largest budget and cut at a smaller one is the search of
that smaller budget (strategies and objectives are deterministic), so each
(strategy, seed) runs once.

Strategies: every registered one (``strategies.names()``), random search
first. Options
(``objectives.STRATEGY_OPTIONS``): the defaults of each strategy, except
evolution, whose paper defaults (P = 100, S = 25, for ~20,000 models) would
still be drawing its random initial population at 100 queries: here P = 20,
S = 5 (P = a tenth to a half of the budget; S = P / 4 keeps the paper's ratio).
Progressive search only runs on the block-structured objective.

Usage:
    python -m benchmarks.search_strategies                  # 20 seeds, ~15 min on 2 cores
    python -m benchmarks.search_strategies --seeds 5 --strategies random,evolution
    python -m benchmarks.search_strategies --seeds 2 --budgets 20,50 --json /tmp/s.json  # a check
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from search_cifar import objectives, strategies  # noqa: E402
from search_cifar.objectives import run_seeds  # noqa: E402

BUDGETS = (50, 100, 200)
OBJECTIVES = ("interaction_6x5", "nasnet_b3_5ops")
GOAL_OBJECTIVE = "interaction_6x5"


def supports(strategy: str, objective: Any) -> bool:
    return strategy != "progressive" or getattr(objective.space, "is_block_structured", False)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    # Random search first: the other rows are compared with it.
    parser.add_argument("--strategies", default=",".join(
        sorted(strategies.names(), key=lambda name: name != "random")))
    parser.add_argument("--objectives", default=",".join(OBJECTIVES))
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    budgets = tuple(int(b) for b in args.budgets.split(","))
    names = [n for n in args.strategies.split(",") if n]
    unknown = sorted(set(names) - set(strategies.names()))
    if unknown:
        parser.error(f"unknown strategies {unknown}; known: {strategies.names()}")
    seeds = list(range(args.seeds))

    report: dict[str, Any] = {"seeds": args.seeds, "budgets": list(budgets), "results": {},
                              "timings": {}}
    for objective_name in args.objectives.split(","):
        # Every seed's objective and its top-0.1% threshold are built before any
        # strategy runs, so that no strategy's timing includes them.
        cache: dict = {}
        for seed in seeds:
            cache[(objective_name, seed)] = objectives.make(objective_name, seed=seed)
            cache[(objective_name, seed)].top_threshold(0.001)
        example = cache[(objective_name, 0)]
        print(f"\n## {objective_name}: {len(example.space.num_choices)} decisions, "
              f"{args.seeds} seeds; top-0.1% threshold {example.threshold_method}")
        header = f"{'strategy':<12} " + " ".join(
            f"{'regret@' + str(b):>15} {'P(top)':>6} {'/rand':>5}" for b in budgets) + (
            f" {'time':>6} {'CPU ms/trial':>12}")
        print(header)
        print("-" * len(header))
        rows: dict[str, Any] = {}
        timings: dict[str, Any] = {}
        for name in names:
            if not supports(name, example):
                print(f"{name:<12} n/a (needs a block-structured space)")
                continue
            start, cpu_start = time.time(), time.process_time()
            results = run_seeds(name, objective_name, seeds, budgets, objective_cache=cache)
            cpu_ms = 1000.0 * (time.process_time() - cpu_start) / (len(seeds) * max(budgets))
            rows[name] = {b: {"mean": float(r["regret"].mean()), "sd": float(r["regret"].std()),
                              "p_top": float(r["top"].mean())} for b, r in results.items()}
            timings[name] = {"wall_s": time.time() - start, "cpu_ms_per_trial": cpu_ms}
            cells = []
            for b in budgets:
                row = rows[name][b]
                base = rows.get("random", {}).get(b, {}).get("mean")
                ratio = f"{row['mean'] / base:5.2f}" if base else "    -"
                cells.append(f"{row['mean']:7.3f} ± {row['sd']:5.3f} {row['p_top']:6.2f} {ratio}")
            print(f"{name:<12} " + " ".join(cells)
                  + f" {timings[name]['wall_s']:5.0f}s {cpu_ms:12.2f}", flush=True)
        report["results"][objective_name] = rows
        report["timings"][objective_name] = timings
        if objective_name != GOAL_OBJECTIVE:
            continue
        # The goals, on the 6-decision, 5-choice problem.
        if "random" in rows and 100 in budgets:
            for name in ("evolution", "rl"):
                if name in rows:
                    ratio = rows[name][100]["mean"] / rows["random"][100]["mean"]
                    print(f"goal: {name} mean regret at 100 / random's = {ratio:.2f} "
                          f"({'met' if ratio <= 0.5 else 'NOT met'}: <= 0.5)")
        if {"rl", "evolution"} <= set(rows) and 200 in budgets:
            rl, evo = rows["rl"][200]["mean"], rows["evolution"][200]["mean"]
            print(f"goal: rl mean regret at 200 = {rl:.3f} vs evolution {evo:.3f} "
                  f"({'met' if rl <= evo * 1.1 + 0.005 else 'NOT met'}: rl <= 1.1 x evolution + 0.005)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
