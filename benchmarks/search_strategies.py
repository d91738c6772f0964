"""Search quality of every strategy on synthetic landscapes and on NAS-Bench-Graph tables.

For each objective (``search_cifar/objectives.py``: two synthetic landscapes
and, by default, three NAS-Bench-Graph datasets, ``search_cifar/graph_benchmark.py``)
and each strategy, runs one search per seed in process
(``objectives.run_one``: the search driver with the in-process executor) up to
the largest budget and reports at each budget, over the seeds:

* the mean and standard deviation of the regret of the incumbent (the best
  *observed* full-size architecture, ``objectives.incumbent_curve``):
  ``1 - true value`` on the synthetic objectives (normalised to [0, 1]),
  best test accuracy minus the incumbent's test accuracy on NAS-Bench-Graph
  (the search observes validation accuracies);
* P(top 0.1%): the fraction of seeds whose incumbent is in the top 0.1% of the
  space (exact, except ``nasnet_b3_5ops``'s threshold, sampled);
* the ratio of the mean regret to random search's;

and per strategy the CPU milliseconds per trial (``time.process_time`` of the
process that ran it: strategy, driver and objective together).

Budgets count distinct architectures: the driver de-duplicates proposals by
the space's key (on NAS-Bench-Graph, the package's canonical hash of
equivalent networks), and a duplicate costs nothing. A search run to the
largest budget and cut at a smaller one is the search of that smaller budget
(strategies and objectives are deterministic), so each (strategy, seed) runs
once. Seed s builds objective instance s (its tables and noise; every seed
searches the same NAS-Bench-Graph table) and the strategy with seed s.

Rows: random search first, then every registered strategy
(``strategies.names()``) with its defaults, except evolution, which runs with
``objectives.STRATEGY_OPTIONS`` (P = 20, S = 5: the paper's P = 100 would still
be drawing its random initial population at 100 architectures); then any
``--variant LABEL=STRATEGY:{json options}`` (an ablation, or the bayesian GP
sampler: ``--variant 'bayesian_gp=bayesian:{"sampler": "gp"}'``, left out of the
default rows because it refits a Gaussian process on every ask, seconds each,
which makes the full run hours longer). Progressive search runs only on the
block-structured objective.

Resumable and parallel: with ``--results_dir`` every (objective, row, seed)
search is one JSON file, written atomically when it finishes; a rerun reads
the files that match (same strategy, options and at least the budget) and runs
only the rest, so a killed run loses at most the searches in flight, and two
runs on the same directory at once only repeat some work. ``--jobs N`` runs N
searches at a time in worker processes.

Measured on this project's 2-core machine with nothing else running: the
default table (30 seeds x 5 rows x 5 objectives to 200 architectures, 630
searches) took 8m16s wall and 777 CPU-s with ``--jobs 2``. The RL controller
and the Bayesian TPE dominate (about 7-18 and 6-12 ms per trial), random and
evolution take under 1 ms, progressive 31 ms on the NASNet cell space.

Usage:
    python -m benchmarks.search_strategies --results_dir out/search_quality --jobs 2 \\
        --json out/search_quality.json --markdown out/search_quality.md    # the full table
    python -m benchmarks.search_strategies --seeds 5 --strategies random,evolution
    python -m benchmarks.search_strategies --seeds 2 --budgets 20,50 --json /tmp/s.json  # a check
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import sys
import time
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from nasnet import io_utils  # noqa: E402
from search_cifar import objectives, strategies  # noqa: E402

BUDGETS = (50, 100, 150, 200)
SEEDS = 30
#: The synthetic landscapes and three NAS-Bench-Graph datasets whose validation
#: accuracy ranks test accuracy well (Pearson over the table: arxiv 0.99, cora 0.94,
#: citeseer 0.93). Left out by default, not hidden (``--objectives``): pubmed
#: (0.34: its best-validation network has regret 0.030, worse than random search's
#: incumbent) and computers (0.73), where regret measures the proxy's noise more
#: than the search.
OBJECTIVES = ("interaction_6x5", "nasnet_b3_5ops", "nas_bench_graph_cora",
              "nas_bench_graph_citeseer", "nas_bench_graph_arxiv")
#: The issue's goal: the default ``rl`` within this factor of evolution's mean
#: regret at this budget, on every objective.
GOAL_BUDGET = 150
GOAL_RATIO = 1.25
RESULT_FORMAT = 2  # 2: records carry the strategy's resolved options


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the table: a label, a registered strategy and its options."""

    label: str
    strategy: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)


def default_row(name: str) -> Row:
    return Row(name, name, tuple(sorted(objectives.STRATEGY_OPTIONS.get(name, {}).items())))


def parse_variant(text: str) -> Row:
    """``LABEL=STRATEGY`` or ``LABEL=STRATEGY:{json object of options}``; ValueError naming it."""
    label, sep, rest = text.partition("=")
    name, colon, options_text = rest.partition(":")
    if not sep or not label.strip() or not name.strip():
        raise ValueError(f"a variant must look like LABEL=STRATEGY or "
                         f"LABEL=STRATEGY:{{json options}}, got {text!r}")
    try:
        options = json.loads(options_text) if colon else {}
    except json.JSONDecodeError as e:
        raise ValueError(f"variant {text!r}: the options are not JSON ({e})") from None
    if not isinstance(options, dict):
        raise ValueError(f"variant {text!r}: the options must be a JSON object, got {options!r}")
    return Row(label.strip(), name.strip(), tuple(sorted(options.items())))


def supports(strategy: str, objective: Any) -> bool:
    return strategy != "progressive" or getattr(objective.space, "is_block_structured", False)


def result_path(results_dir: str, objective: str, label: str, seed: int) -> str:
    return os.path.join(results_dir, objective, label, f"seed{seed:03d}.json")


_RESOLVED: dict[tuple[str, Row], Any] = {}


def resolved_options(objective_name: str, row: Row) -> Any:
    """Every option the strategy of ``row`` runs with on ``objective_name``, defaults and
    presets resolved (its saved state's ``options``, as JSON): a saved search is reused
    only while they are unchanged, so a changed default reruns it."""
    key = (objective_name, row)
    if key not in _RESOLVED:
        space = _objective(objective_name, 0).space
        state = strategies.make(row.strategy, space, seed=0, **row.options_dict).get_state()
        _RESOLVED[key] = json.loads(json.dumps(state["options"]))
    return _RESOLVED[key]


def read_result(path: str, objective_name: str, row: Row,
                max_budget: int) -> dict[str, Any] | None:
    """The saved search at ``path`` when it matches ``row``, its strategy's resolved options
    on ``objective_name`` are unchanged, and it reaches ``max_budget``."""
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not (isinstance(record, dict) and record.get("format") == RESULT_FORMAT
            and record.get("strategy") == row.strategy
            and record.get("options") == json.loads(json.dumps(row.options_dict))
            and len(record.get("regret", [])) >= max_budget):
        return None
    if record.get("resolved_options") != resolved_options(objective_name, row):
        return None
    return record


_OBJECTIVES: dict[tuple[str, int], Any] = {}


def _objective(name: str, seed: int) -> Any:
    """Objective instance ``seed`` of ``name``, with its optimum and threshold computed
    (once per process, and outside the strategy's timing)."""
    key = (name, seed)
    if key not in _OBJECTIVES:
        objective = objectives.make(name, seed=seed)
        objective.optimum()
        objective.top_threshold(0.001)
        _OBJECTIVES[key] = objective
    return _OBJECTIVES[key]


def run_search(objective_name: str, row: Row, seed: int, max_budget: int) -> dict[str, Any]:
    """One search, as the JSON record a results directory keeps."""
    objective = _objective(objective_name, seed)
    cpu = time.process_time()
    curve = objectives.run_one(row.strategy, objective, seed, max_budget, row.options_dict)
    cpu = time.process_time() - cpu
    return {"format": RESULT_FORMAT, "objective": objective_name, "label": row.label,
            "strategy": row.strategy, "options": row.options_dict,
            "resolved_options": resolved_options(objective_name, row), "seed": seed,
            "max_budget": max_budget, "cpu_s": cpu,
            "num_evaluated": curve["num_evaluated"], "num_proposed": curve["num_proposed"],
            "regret": curve["regret"].tolist(), "top": curve["top"].tolist()}


def _run_task(task: tuple[str, Row, int, int]) -> dict[str, Any]:
    return run_search(*task)


def collect(tasks: list[tuple[str, Row, int, int]], results_dir: str | None, jobs: int,
            stream=None) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Every task's record: read from ``results_dir`` where it is there, else run."""
    stream = sys.stdout if stream is None else stream
    records: dict[tuple[str, str, int], dict[str, Any]] = {}
    todo = []
    for task in tasks:
        objective_name, row, seed, max_budget = task
        if results_dir is not None:
            saved = read_result(result_path(results_dir, objective_name, row.label, seed),
                                objective_name, row, max_budget)
            if saved is not None:
                records[(objective_name, row.label, seed)] = saved
                continue
        todo.append(task)
    if results_dir is not None and records:
        print(f"{len(records)} of {len(tasks)} searches read from {results_dir}", file=stream)

    def keep(record: dict[str, Any], done: int) -> None:
        key = (record["objective"], record["label"], record["seed"])
        records[key] = record
        if results_dir is not None:
            io_utils.atomic_write_json(result_path(results_dir, *key), record)
        budget = min(GOAL_BUDGET, record["max_budget"])
        print(f"[{done}/{len(todo)}] {record['label']} on {record['objective']} seed "
              f"{record['seed']}: regret@{budget} {record['regret'][budget - 1]:.4f} "
              f"({record['cpu_s']:.1f} s CPU)", file=stream, flush=True)

    if jobs <= 1 or len(todo) <= 1:
        for done, task in enumerate(todo, 1):
            keep(_run_task(task), done)
    else:
        # Spawned workers: TensorFlow (the RL controller) does not survive a fork.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
            futures = [pool.submit(_run_task, task) for task in todo]
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                keep(future.result(), done)
    return records


def summarise(records: dict[tuple[str, str, int], dict[str, Any]], objective_name: str,
              rows: Sequence[Row], seeds: Sequence[int], budgets: Sequence[int]
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per row: ``{budget: {"mean", "sd", "p_top", "ratio"}}``, and its CPU timing."""
    table: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    for row in rows:
        runs = [records[(objective_name, row.label, s)] for s in seeds
                if (objective_name, row.label, s) in records]
        if not runs:
            continue
        table[row.label] = {}
        for b in budgets:
            regret = np.array([r["regret"][b - 1] for r in runs])
            top = np.array([r["top"][b - 1] for r in runs])
            table[row.label][b] = {"mean": float(regret.mean()), "sd": float(regret.std()),
                                   "p_top": float(top.mean())}
        trials = sum(r["max_budget"] for r in runs)
        timings[row.label] = {"cpu_ms_per_trial": 1000.0 * sum(r["cpu_s"] for r in runs) / trials,
                              "cpu_s": sum(r["cpu_s"] for r in runs)}
    random = table.get("random")
    for label, cells in table.items():
        for b, cell in cells.items():
            base = random[b]["mean"] if random else None
            cell["ratio"] = cell["mean"] / base if base else None
    return table, timings


def format_cell(cell: dict[str, Any]) -> str:
    ratio = f"{cell['ratio']:5.2f}" if cell["ratio"] is not None else "    -"
    return f"{cell['mean']:7.4f} ± {cell['sd']:6.4f} {cell['p_top']:6.2f} {ratio}"


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables, one per objective."""
    budgets = report["budgets"]
    lines = [f"Mean regret ± sd over {report['seeds']} seeds, P(top 0.1%), and the ratio of "
             f"the mean regret to random search's, at {', '.join(map(str, budgets))} "
             f"distinct architectures (`benchmarks/search_strategies.py`).", ""]
    for objective_name, table in report["results"].items():
        lines += [f"**{objective_name}** ({report['units'][objective_name]})", "",
                  "| strategy | " + " | ".join(f"{b}" for b in budgets) + " | CPU ms/trial |",
                  "|---|" + "---|" * len(budgets) + "---|"]
        for label, cells in table.items():
            texts = []
            for b in budgets:
                c = cells[str(b)] if str(b) in cells else cells[b]
                ratio = f" · {c['ratio']:.2f}×" if c["ratio"] is not None else ""
                texts.append(f"{c['mean']:.4f} ± {c['sd']:.4f} · {c['p_top']:.2f}{ratio}")
            cpu = report["timings"][objective_name][label]["cpu_ms_per_trial"]
            lines.append(f"| {label} | " + " | ".join(texts) + f" | {cpu:.1f} |")
        lines.append("")
    return "\n".join(lines)


def goal_lines(report: dict[str, Any]) -> list[str]:
    """The issue's goal for the default ``rl`` against ``evolution``, per objective."""
    if GOAL_BUDGET not in report["budgets"]:
        return []
    out = []
    for objective_name, table in report["results"].items():
        if "rl" in table and "evolution" in table:
            rl, evo = table["rl"][GOAL_BUDGET]["mean"], table["evolution"][GOAL_BUDGET]["mean"]
            met = rl <= GOAL_RATIO * evo
            ratio = f"{rl / evo:.2f}x" if evo > 0 else "inf"
            out.append(f"goal on {objective_name}: rl mean regret at {GOAL_BUDGET} = {rl:.4f}, "
                       f"evolution {evo:.4f}: {ratio} ({'met' if met else 'NOT met'}: "
                       f"<= {GOAL_RATIO}x)")
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    # Random search first: the other rows are compared with it.
    parser.add_argument("--strategies", default=",".join(
        sorted(strategies.names(), key=lambda name: name != "random")),
        help="registered strategies, each a row with its benchmark options")
    parser.add_argument("--variant", action="append", default=[],
                        help="an extra row LABEL=STRATEGY:{json options} (repeatable)")
    parser.add_argument("--objectives", default=",".join(OBJECTIVES),
                        help=f"known: {','.join(sorted(objectives.OBJECTIVES))}")
    parser.add_argument("--results_dir", default=None,
                        help="one JSON file per search; a rerun only runs what is missing")
    parser.add_argument("--jobs", type=int, default=1, help="searches run at a time")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--markdown", default=None, help="also write Markdown tables here")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    try:
        budgets = tuple(int(b) for b in args.budgets.split(","))
    except ValueError:
        parser.error(f"--budgets must be comma-separated integers, got {args.budgets!r}")
    if any(b < 1 for b in budgets) or list(budgets) != sorted(set(budgets)):
        parser.error(f"--budgets must be increasing integers >= 1, got {args.budgets!r}")
    names = [n for n in args.strategies.split(",") if n]
    unknown = sorted(set(names) - set(strategies.names()))
    if unknown:
        parser.error(f"unknown strategies {unknown}; known: {strategies.names()}")
    objective_names = [n for n in args.objectives.split(",") if n]
    unknown = sorted(set(objective_names) - set(objectives.OBJECTIVES))
    if unknown:
        parser.error(f"unknown objectives {unknown}; known: {sorted(objectives.OBJECTIVES)}")
    rows = [default_row(n) for n in names]
    try:
        rows += [parse_variant(v) for v in args.variant]
        example = {n: _objective(n, 0) for n in objective_names}
        for row in rows:  # unknown strategies and options fail here, before anything runs
            if row.strategy not in strategies.names():
                raise ValueError(f"variant {row.label!r}: unknown strategy {row.strategy!r}; "
                                 f"known: {strategies.names()}")
            for objective in example.values():
                if supports(row.strategy, objective):
                    strategies.make(row.strategy, objective.space, seed=0, **row.options_dict)
    except ValueError as e:
        parser.error(str(e))
    labels = [row.label for row in rows]
    if len(set(labels)) != len(labels):
        parser.error(f"row labels must differ, got {labels}")
    seeds = list(range(args.seeds))
    max_budget = max(budgets)
    tasks = [(o, row, s, max_budget) for o in objective_names for row in rows
             if supports(row.strategy, example[o]) for s in seeds]
    records = collect(tasks, args.results_dir, args.jobs)

    report: dict[str, Any] = {"seeds": args.seeds, "budgets": list(budgets), "results": {},
                              "timings": {}, "units": {},
                              "rows": {row.label: {"strategy": row.strategy,
                                                   "options": row.options_dict} for row in rows}}
    for objective_name in objective_names:
        objective = example[objective_name]
        graph = objective_name.startswith("nas_bench_graph_")
        report["units"][objective_name] = (
            "regret in test accuracy; reward: validation accuracy" if graph
            else "regret in normalised units, 1 = the whole range")
        table, timings = summarise(records, objective_name, rows, seeds, budgets)
        report["results"][objective_name] = table
        report["timings"][objective_name] = timings
        print(f"\n## {objective_name}: {len(objective.space.num_choices)} decisions, "
              f"{args.seeds} seeds; {report['units'][objective_name]}; top-0.1% threshold "
              f"{objective.threshold_method}")
        header = f"{'strategy':<16} " + " ".join(
            f"{'regret@' + str(b):>17} {'P(top)':>6} {'/rand':>5}" for b in budgets) + (
            f" {'CPU ms/trial':>12}")
        print(header)
        print("-" * len(header))
        for row in rows:
            if row.label not in table:
                print(f"{row.label:<16} n/a (needs a block-structured space)")
                continue
            print(f"{row.label:<16} " + " ".join(format_cell(table[row.label][b])
                                                 for b in budgets)
                  + f" {timings[row.label]['cpu_ms_per_trial']:12.2f}", flush=True)
    print()
    for line in goal_lines(report):
        print(line)
    if args.json:
        io_utils.atomic_write_json(args.json, report)
    if args.markdown:
        io_utils.atomic_write_text(args.markdown, markdown(json.loads(json.dumps(report))))
    return report


if __name__ == "__main__":
    main()
