"""Does a cost-aware reward steer the search to the target? Issue 13 B.4, on digits.

Three searches of the ``quickstart`` experiment (digits, the ``tiny`` child,
regularized evolution, the same seed and budget), as a user runs them
(subprocesses of ``search_cifar/search.py``, ``--workers=0`` so that the
command's CPU-seconds, from ``getrusage(RUSAGE_CHILDREN)``, are all of it):

* ``unconstrained``: reward = validation accuracy (the default);
* ``soft``: MnasNet's soft reward, ``accuracy x (M / T)^-0.07``;
* ``hard``: MnasNet's hard reward (w = 0 at or under T, -1 over it);

with T = ``--target_mult_adds`` (600M, the mobile setting) of the network each
cell will become at the mobile size (``reward.network=mobile``: 4 @ 1056 at
224 px, the default). Every search records the mult-adds of its children
(``metrics.cost``), so for each one the script reports, from the records:

* **the share of proposals within +-10 % of the target after the first quarter
  of the budget** (the evaluated children, in proposal order, after the first
  ``ceil(budget / 4)``), and the share at or under the target;
* **the best accuracy at the target** (among children within +-10 %, and at or
  under it) against the best accuracy of any cost, and the unconstrained
  search's;
* the same shares for ``--random_cells`` uniform random cells of the space
  (counted in closed form, no training): what a search that ignores cost
  proposes.

``--tiny`` runs the ``synthetic`` experiment (no training, a seeded table) at a
budget of 8: seconds, to check the script (its numbers mean nothing). On a
quiet 2-core machine the real run (3 x 48 children of about 13 CPU-s) takes
30-40 minutes::

    .venv/bin/python benchmarks/cost_aware_search.py --output_dir=out/cost_aware_search
    .venv/bin/python benchmarks/cost_aware_search.py --output_dir=/tmp/cas --tiny   # a check

Prints a Markdown table and writes ``<output_dir>/results.json``; the searches'
work directories (reports with ``pareto.png``) and logs stay in ``<output_dir>``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
from typing import Any, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import search_runs  # noqa: E402
from nasnet import cost as cost_lib  # noqa: E402
from search_cifar import pareto, reward, trial_store  # noqa: E402
from search_cifar.trial_store import Trial  # noqa: E402

#: search name -> the reward overrides (the target is added).
REWARDS = {"unconstrained": {"reward.kind": "accuracy"},
           "soft": {"reward.kind": "soft"},
           "hard": {"reward.kind": "hard"}}


def measure(trials: Sequence[Trial], target: float, budget: int) -> dict[str, Any]:
    """The numbers of one search (see the module docstring) from its trial records."""
    axis = pareto.Axis(cost="mult_adds", target=target)
    evaluated = sorted((t for t in trials if t.status != "duplicate"), key=lambda t: t.id)
    later = evaluated[math.ceil(budget / 4):]
    costs = [t.metrics["cost"]["mult_adds"] for t in later if (t.metrics or {}).get("cost")]
    near = [c for c in costs if abs(c / target - 1.0) <= pareto.TARGET_BAND]
    ok = [t for t in evaluated if pareto.point(t, axis) is not None]
    summary = pareto.summary(ok, axis)
    best = max(ok, key=lambda t: (pareto.point(t, axis)[1], -t.id), default=None)
    return {"children": len(evaluated), "later": len(costs),
            "share_near_target": len(near) / len(costs) if costs else None,
            "share_at_or_under_target": (sum(c <= target for c in costs) / len(costs)
                                         if costs else None),
            "median_mult_adds_later": sorted(costs)[len(costs) // 2] if costs else None,
            "best_accuracy": pareto.point(best, axis)[1] if best else None,
            "best_accuracy_mult_adds": pareto.point(best, axis)[0] if best else None,
            "best_accuracy_near_target": summary["best_accuracy_near_target"],
            "best_accuracy_at_or_under_target": summary["best_accuracy_at_or_under_target"],
            "pareto_front": summary["pareto_front"]}


def random_shares(space_config: dict[str, Any], count: int, target: float, seed: int = 0,
                  network: cost_lib.TargetNetwork | None = None) -> dict[str, Any]:
    """The shares of ``count`` uniform random cells of the space (closed-form mult-adds)."""
    from search_cifar.space import NasnetCellSpace  # noqa: PLC0415

    space = NasnetCellSpace(**space_config)
    network = network or cost_lib.TargetNetwork()
    rng = random.Random(seed)
    costs = [cost_lib.cached_mult_adds(space.decode([rng.randrange(n) for n in space.num_choices]),
                                       network) for _ in range(count)]
    return {"later": count,
            "share_near_target": sum(abs(c / target - 1) <= pareto.TARGET_BAND
                                     for c in costs) / count,
            "share_at_or_under_target": sum(c <= target for c in costs) / count,
            "median_mult_adds_later": sorted(costs)[count // 2]}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _madds(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:,.0f}M"


def table(results: dict[str, Any]) -> str:
    """The Markdown table of ``main``'s results."""
    lines = [f"target: {results['target_mult_adds'] / 1e6:g}M mult-adds of "
             f"{results['network']}; budget {results['budget']} "
             f"(shares over the children after the first {math.ceil(results['budget'] / 4)})",
             "",
             "| search | share within +-10 % | share at or under | median mult-adds | "
             "best accuracy (mult-adds) | best within +-10 % | best at or under | "
             "CPU-s | wall s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["searches"].items():
        lines.append(
            f"| {name} | {_pct(r['share_near_target'])} | {_pct(r['share_at_or_under_target'])} "
            f"| {_madds(r['median_mult_adds_later'])} | {_acc(r['best_accuracy'])} "
            f"({_madds(r['best_accuracy_mult_adds'])}) | {_acc(r['best_accuracy_near_target'])} "
            f"| {_acc(r['best_accuracy_at_or_under_target'])} | {r['cpu_seconds']:.0f} "
            f"| {r['wall_seconds']:.0f} |")
    r = results["random"]
    lines.append(f"| {r['later']} random cells | {_pct(r['share_near_target'])} | "
                 f"{_pct(r['share_at_or_under_target'])} | {_madds(r['median_mult_adds_later'])} "
                 f"| - | - | - | - | - |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", required=True, help="new or empty directory")
    parser.add_argument("--budget", type=int, default=48, help="children per search")
    parser.add_argument("--target_mult_adds", type=float, default=reward.MOBILE_MULT_ADDS)
    parser.add_argument("--random_cells", type=int, default=10_000)
    parser.add_argument("--tiny", action="store_true", help="a seconds-long check of the script")
    args = parser.parse_args(argv)
    if args.budget < 4:
        parser.error(f"--budget must be >= 4, got {args.budget}")
    if not args.target_mult_adds > 0:
        parser.error(f"--target_mult_adds must be > 0, got {args.target_mult_adds}")
    if args.random_cells < 1:
        parser.error(f"--random_cells must be >= 1, got {args.random_cells}")
    out_dir = os.path.abspath(args.output_dir)
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        parser.error(f"--output_dir {out_dir} exists and is not an empty directory (a search "
                     f"there would resume, and its CPU-seconds mean nothing)")
    os.makedirs(out_dir, exist_ok=True)
    experiment = "synthetic" if args.tiny else "quickstart"
    budget = 8 if args.tiny else args.budget
    random_cells = min(args.random_cells, 200) if args.tiny else args.random_cells
    extra = ["--config_override=synthetic.seconds=0"] if args.tiny else []

    searches: dict[str, Any] = {}
    for name, overrides in REWARDS.items():
        workdir = os.path.join(out_dir, name)
        print(f"search {name!r}: {experiment}, {budget} children ...", flush=True)
        settings = {**overrides, "reward.target_mult_adds": args.target_mult_adds}
        command = search_runs.run_search([f"--experiment={experiment}", f"--workdir={workdir}",
                               f"--budget={budget}", "--workers=0", *extra,
                               *(f"--config_override={k}={v}" for k, v in settings.items())],
                              os.path.join(out_dir, f"{name}.log"))
        trials = [t for _, t in sorted(trial_store.load_trials(workdir).items())]
        searches[name] = {**measure(trials, args.target_mult_adds, budget), **command,
                          "workdir": workdir}
    with open(os.path.join(out_dir, "unconstrained", "config.json"), encoding="utf-8") as f:
        space_config = json.load(f)["space"]
    results = {"tiny": args.tiny, "experiment": experiment, "budget": budget,
               "target_mult_adds": args.target_mult_adds,
               "network": cost_lib.TargetNetwork().describe(), "searches": searches,
               "random": random_shares(space_config, random_cells, args.target_mult_adds)}
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    print(table(results))
    return results


if __name__ == "__main__":
    main()
