"""Search quality of every strategy on synthetic problems with a known optimum.

For each objective of ``search_cifar/objectives.py`` and each strategy, runs
one search per seed (seed s: objective instance s, its noise and strategy seed
s) with ``run_search`` up to the largest budget, and reports at each budget,
over the seeds:

* the mean and standard deviation of the regret (``1 - true value`` of the
  incumbent: the best *observed* full-size architecture, see
  ``objectives.incumbent_metrics``),
* P(top 0.1%): the fraction of seeds whose incumbent is in the top 0.1% of the
  space (exact threshold for ``interaction_6x5``, sampled for ``nasnet_b3_5ops``),
* the ratio of the mean regret to random search's.

A search run to the largest budget and cut at a smaller one is the search of
that smaller budget (strategies and objectives are deterministic), so each
(strategy, seed) runs once.

Options (``objectives.STRATEGY_OPTIONS``): the defaults of each strategy, except
evolution, whose paper defaults (P = 100, S = 25, for ~20,000 models) would
still be drawing its random initial population at 100 queries: here P = 20,
S = 5 (P = a tenth to a half of the budget; S = P / 4 keeps the paper's ratio).
Progressive search only runs on the block-structured objective.

Usage:
    python -m benchmarks.search_strategies                  # 20 seeds, ~15 min on 2 cores
    python -m benchmarks.search_strategies --seeds 5 --strategies random,evolution
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
from search_cifar.objectives import STRATEGY_OPTIONS, run_seeds  # noqa: E402

BUDGETS = (50, 100, 200)
OBJECTIVES = ("interaction_6x5", "nasnet_b3_5ops")
GOAL_OBJECTIVE = "interaction_6x5"


def supports(strategy: str, objective: Any) -> bool:
    return strategy != "progressive" or getattr(objective.space, "is_block_structured", False)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--strategies", default=",".join(STRATEGY_OPTIONS))
    parser.add_argument("--objectives", default=",".join(OBJECTIVES))
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    budgets = tuple(int(b) for b in args.budgets.split(","))
    names = [n for n in args.strategies.split(",") if n]
    unknown = sorted(set(names) - set(strategies.names()))
    if unknown:
        parser.error(f"unknown strategies {unknown}; known: {strategies.names()}")
    seeds = list(range(args.seeds))

    report: dict[str, Any] = {"seeds": args.seeds, "budgets": list(budgets), "results": {}}
    for objective_name in args.objectives.split(","):
        cache: dict = {}
        example = objectives.make(objective_name, seed=0)
        print(f"\n## {objective_name}: {len(example.space.num_choices)} decisions, "
              f"{args.seeds} seeds; top-0.1% threshold {example.threshold_method}")
        header = f"{'strategy':<12} " + " ".join(
            f"{'regret@' + str(b):>15} {'P(top)':>6} {'/rand':>5}" for b in budgets) + f" {'time':>6}"
        print(header)
        print("-" * len(header))
        rows: dict[str, Any] = {}
        for name in names:
            if not supports(name, example):
                print(f"{name:<12} n/a (needs a block-structured space)")
                continue
            start = time.time()
            results = run_seeds(name, objective_name, seeds, budgets, objective_cache=cache)
            rows[name] = {b: {"mean": float(r["regret"].mean()), "sd": float(r["regret"].std()),
                              "p_top": float(r["top"].mean())} for b, r in results.items()}
            cells = []
            for b in budgets:
                row = rows[name][b]
                base = rows.get("random", {}).get(b, {}).get("mean")
                ratio = f"{row['mean'] / base:5.2f}" if base else "    -"
                cells.append(f"{row['mean']:7.3f} ± {row['sd']:5.3f} {row['p_top']:6.2f} {ratio}")
            print(f"{name:<12} " + " ".join(cells) + f" {time.time() - start:5.0f}s", flush=True)
        report["results"][objective_name] = rows
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
