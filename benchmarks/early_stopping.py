"""Early stopping of children (ASHA) against training every child fully: same strategy, same seeds.

Two measurements (``search_cifar/early_stopping.py`` is what is measured):

1. **digits** (real children, TensorFlow): the ``quickstart_asha`` experiment
   (digits, the tiny child, regularized evolution or ``--strategy``) with its children of
   ``--epochs`` epochs, once with early stopping (rungs ``1, 3, 9 ...`` below
   ``--epochs``, reduction factor ``--eta``) and ``--budget_es`` children, once
   without and ``--budget`` children, for each seed (the strategy's seed; the
   children's training seed is the experiment's). Children train in this
   process one at a time (the search driver with the in-process executor, so
   both runs are deterministic given the seed), and each child's CPU seconds
   (``time.process_time`` around its training: every thread of this process)
   are recorded. Reported per seed: the best validation accuracy of a child
   trained for all its epochs, against the CPU seconds spent so far; the CPU
   seconds early stopping needed to reach the best accuracy of the run
   without it, and their ratio. **Goal** (issue 13): the same best accuracy
   with at most half the CPU seconds (ratio <= 0.5). Also reported, the
   stricter reading: the CPU seconds the search without early stopping took
   to *first* reach its best, and the ratio of the two times; where the
   validation accuracy saturates within a few children (digits' 150
   validation images do), the goal's ratio flatters early stopping and this
   one does not. And, per seed, how well the rungs predict: the Kendall tau
   between the validation accuracy after each rung's epochs and the final one,
   over the children the search without early stopping trained fully
   (``rung_predictiveness``). Early stopping finds the best children only as
   fast as that ranking allows. And how precisely the split measures the best
   accuracy: its binomial standard error, in images, beside the images by
   which early stopping's best within half the CPU seconds falls short.
   ``--validation_size`` scores the children on more validation images than
   digits' default 150.
2. **synthetic** (no training, many seeds): ``objectives.LearningCurveObjective``
   over ``NasnetCellObjective`` (3-block cells, 5 ops; curves of ``--epochs``
   epochs whose speed differs by architecture, so that they cross), the same
   strategy with and without early stopping; the regret of the incumbent
   (the best observed child trained for all its epochs) against the
   child-epochs spent, and the child-epochs early stopping needed to reach
   the final regret of the run without it.

Only children trained to the end compete for "best": a child stopped at a
rung reports its accuracy mid-schedule (``early_stopping.py``).

    .venv/bin/python benchmarks/early_stopping.py --json=out/es.json --plot=out/es.png
    .venv/bin/python benchmarks/early_stopping.py --part=synthetic --seeds=50
    .venv/bin/python benchmarks/early_stopping.py --tiny        # a smoke run of both parts

With ``--workdir`` each digits search keeps its records there
(``<workdir>/digits/seed<s>-{asha,full}``), so a killed benchmark run again
resumes its searches. CPU seconds are steadier than wall time on a shared
machine, but other load still inflates them: measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Sequence

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from search_cifar import objectives, scheduler, strategies  # noqa: E402
from search_cifar.early_stopping import EarlyStopping, geometric_rungs  # noqa: E402
from search_cifar.evaluator import Result  # noqa: E402
from search_cifar.executors import InProcessExecutor  # noqa: E402
from search_cifar.trial_store import Trial, TrialStore  # noqa: E402

GOAL_RATIO = 0.5
MODES = ("full", "asha")


# -- arithmetic on finished searches -------------------------------------------------------
def is_full(trial: Trial) -> bool:
    """Trained for all its epochs (every child of a search without early stopping)."""
    return trial.status == "ok" and (trial.fidelity is None or trial.fidelity.full)


def child_epochs(trial: Trial, max_epochs: int) -> int:
    """The epochs a trial's child trained (0 for a duplicate, which trains nothing)."""
    if trial.status == "duplicate":
        return 0
    if trial.fidelity is not None:
        return trial.fidelity.epochs
    epochs = (trial.metrics or {}).get("epochs_completed")
    return epochs if isinstance(epochs, int) else max_epochs


def cpu_seconds(trial: Trial) -> float:
    return float((trial.metrics or {}).get("cpu_seconds") or 0.0)


def anytime(trials: Sequence[Trial], cost: Callable[[Trial], float],
            value: Callable[[Trial], float] | None = None) -> list[tuple[float, float | None]]:
    """After each evaluation (in completion order): the cost spent so far and the best
    ``value`` (default: the reward) of a fully trained child so far (None: none yet)."""
    value = value or (lambda t: t.reward)
    ordered = sorted((t for t in trials if t.status != "duplicate"),
                     key=lambda t: t.evaluation if t.evaluation is not None else t.id)
    spent, best, curve = 0.0, None, []
    for t in ordered:
        spent += cost(t)
        if is_full(t):
            v = value(t)
            best = v if best is None else max(best, v)
        curve.append((spent, best))
    return curve


def cost_to_reach(curve: Sequence[tuple[float, float | None]], target: float) -> float | None:
    """The cost at which the best value first reaches ``target`` (None: never)."""
    return next((spent for spent, best in curve if best is not None and best >= target), None)


def best_within(curve: Sequence[tuple[float, float | None]], budget: float) -> float | None:
    """The best value once at most ``budget`` was spent."""
    within = [best for spent, best in curve if spent <= budget]
    return within[-1] if within else None


def summarize_pairs(pairs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-seed comparisons ({"target", "full_cost", "asha_cost_to_target"}) summed up:
    the median ratio of costs (a seed that never reached the target counts as infinite)
    and whether the goal holds (ratio <= 0.5 at the median, every seed reaching it)."""
    ratios = [p["asha_cost_to_target"] / p["full_cost"]
              if p["asha_cost_to_target"] is not None and p["full_cost"] else math.inf
              for p in pairs]
    median = statistics.median(ratios) if ratios else None
    return {"ratios": ratios, "median_ratio": median,
            "seeds_reaching": sum(math.isfinite(r) for r in ratios),
            "goal_met": bool(ratios) and median <= GOAL_RATIO
            and all(math.isfinite(r) for r in ratios)}


# -- digits: real children -----------------------------------------------------------------
class CpuTimed:
    """An evaluator that adds the CPU seconds of this process during each evaluation to the
    metrics (``cpu_seconds``, as the Ray executor records a worker's)."""

    def __init__(self, evaluator: Any, max_epochs: int):
        self.evaluator, self.max_epochs = evaluator, max_epochs

    def evaluate(self, point: Any, report: Any = None) -> Result:
        start = time.process_time()
        result = self.evaluator.evaluate(point, report)
        metrics = dict(result.metrics, cpu_seconds=time.process_time() - start)
        return Result(result.reward, metrics, result.error)


def digits_config(epochs: int, eta: int, filters: int, image_size: int, steps: int | None,
                  validation_size: int | None = None, strategy: str | None = None):
    """The ``quickstart_asha`` experiment with the benchmark's child; ValueError if invalid.

    ``strategy``: another strategy than the experiment's (evolution) runs with
    ``objectives.STRATEGY_OPTIONS``' options for it, else its defaults.
    """
    from search_cifar import experiments  # noqa: PLC0415 -- TensorFlow, digits part only

    overrides = {"child.epochs": epochs, "early_stopping.reduction_factor": eta,
                 "child.network.backbone.num_conv_filters": filters,
                 "child.data.image_size": image_size,
                 "child.data.validation_size": validation_size, "workers": 0}
    if strategy is not None and strategy != experiments.get("quickstart_asha").strategy:
        overrides.update({"strategy": strategy,
                          "strategy_options": objectives.STRATEGY_OPTIONS.get(strategy, {})})
    if steps is not None:
        overrides.update({"child.steps_per_epoch": steps, "child.validation_steps": steps})
    return experiments.apply_overrides(experiments.get("quickstart_asha"), overrides)


def run_digits(args, seeds: Sequence[int], workdir: str) -> dict[str, Any]:
    from search_cifar import experiments  # noqa: PLC0415
    from search_cifar.child_evaluator import ChildEvaluator  # noqa: PLC0415

    base = digits_config(args.epochs, args.eta, args.filters, args.image_size, args.steps,
                         args.validation_size, args.strategy)
    evaluator = CpuTimed(ChildEvaluator(base.child), base.child.epochs)  # data loaded once
    runs: dict[str, dict[int, list[Trial]]] = {mode: {} for mode in MODES}
    for seed in seeds:
        for mode, budget in (("full", args.budget), ("asha", args.budget_es)):
            config = experiments.apply_overrides(base, {
                "seed": seed, "budget": budget, "early_stopping.enabled": mode == "asha"})
            store = TrialStore(os.path.join(workdir, "digits", f"seed{seed}-{mode}"))
            start = time.monotonic()
            result = scheduler.run(config.build_strategy(), evaluator, budget,
                                   InProcessExecutor(), store=store,
                                   early_stopping=config.build_early_stopping())
            runs[mode][seed] = result.trials
            print(f"digits seed {seed} {mode}: {result.num_evaluated} children, "
                  f"{sum(map(cpu_seconds, result.trials)):.0f} CPU s, "
                  f"{time.monotonic() - start:.0f} s wall", flush=True)
    return compare_digits(runs, base.child.epochs,
                          geometric_rungs(1, args.eta, base.child.epochs),
                          validation_images=evaluator.evaluator.data_info.validation_examples)


def rung_predictiveness(trials: Sequence[Trial], rungs: Sequence[int]) -> dict[int, Any]:
    """How well a child's validation accuracy at each rung ranks the children's final ones.

    Over the fully trained children (``is_full``) whose ``metrics["history"]``
    covers the rung: Kendall tau (``scipy.stats.kendalltau``) between
    ``val_accuracy`` after ``rung`` epochs and the child's reward. Early
    stopping can only find the best children as fast as this ranking allows;
    ``{rung: {"tau", "p_value", "n"}}``, tau None with fewer than 3 children.
    """
    from scipy import stats  # noqa: PLC0415

    out: dict[int, Any] = {}
    for rung in rungs:
        pairs = [(t.metrics["history"][rung - 1]["val_accuracy"], t.reward) for t in trials
                 if is_full(t) and len((t.metrics or {}).get("history") or ()) >= rung]
        if len(pairs) < 3:
            out[rung] = {"tau": None, "p_value": None, "n": len(pairs)}
            continue
        result = stats.kendalltau([a for a, _ in pairs], [b for _, b in pairs])
        tau = float(result.statistic)
        out[rung] = {"tau": tau if math.isfinite(tau) else None,
                     "p_value": float(result.pvalue) if math.isfinite(tau) else None,
                     "n": len(pairs)}
    return out


def accuracy_noise(accuracy: float | None, images: int | None) -> dict[str, Any] | None:
    """How precisely one validation accuracy is measured: the binomial standard error
    ``sqrt(a (1 - a) / n)`` of an accuracy ``a`` on ``n`` images, also in images
    (``sqrt(n a (1 - a))``). None when either is unknown."""
    if accuracy is None or not images:
        return None
    return {"images": int(images),
            "standard_error": math.sqrt(accuracy * (1.0 - accuracy) / images),
            "standard_error_images": math.sqrt(images * accuracy * (1.0 - accuracy))}


def compare_digits(runs: dict[str, dict[int, list[Trial]]], max_epochs: int,
                   rungs: Sequence[int] = (), validation_images: int | None = None
                   ) -> dict[str, Any]:
    """Per seed: the best accuracy without early stopping, its CPU seconds, and the CPU
    seconds early stopping took to reach that accuracy.

    With ``validation_images`` (the images every child is scored on), each row
    also says how precisely the best accuracy is measured (``accuracy_noise``)
    and by how many images early stopping's best within half the CPU seconds
    falls short of it (``gap_images_at_half``): a gap inside the standard
    error is a difference the split cannot resolve.
    """
    rows = []
    for seed in sorted(runs["full"]):
        full = anytime(runs["full"][seed], cpu_seconds)
        asha = anytime(runs["asha"][seed], cpu_seconds)
        target = full[-1][1] if full else None
        rows.append({
            "seed": seed, "target": target, "full_cost": full[-1][0] if full else 0.0,
            "full_children": len(full), "asha_children": len(asha),
            "asha_cost": asha[-1][0] if asha else 0.0, "asha_best": asha[-1][1] if asha else None,
            "asha_cost_to_target": cost_to_reach(asha, target) if target is not None else None,
            "full_cost_to_target": cost_to_reach(full, target) if target is not None else None,
            "asha_best_at_half": best_within(asha, (full[-1][0] if full else 0.0) * GOAL_RATIO),
            "full_epochs": sum(child_epochs(t, max_epochs) for t in runs["full"][seed]),
            "asha_epochs": sum(child_epochs(t, max_epochs) for t in runs["asha"][seed]),
            "rung_tau": rung_predictiveness(runs["full"][seed], rungs),
            "curves": {"full": full, "asha": asha}})
        row = rows[-1]
        row["noise"] = accuracy_noise(target, validation_images)
        half = row["asha_best_at_half"]
        row["gap_images_at_half"] = None if row["noise"] is None or half is None else (
            round((target - half) * validation_images))
    time_ratios = [r["asha_cost_to_target"] / r["full_cost_to_target"]
                   if r["asha_cost_to_target"] is not None and r["full_cost_to_target"]
                   else math.inf for r in rows]
    return {"rows": rows, **summarize_pairs(rows), "time_to_best_ratios": time_ratios,
            "median_time_to_best_ratio": statistics.median(time_ratios) if rows else None}


# -- synthetic: learning curves, many seeds --------------------------------------------------
def synthetic_objective(seed: int, epochs: int) -> objectives.LearningCurveObjective:
    return objectives.LearningCurveObjective(objectives.NasnetCellObjective(seed=seed),
                                             epochs=epochs, seed=seed)


def run_synthetic(args, seeds: Sequence[int]) -> dict[str, Any]:
    levels = [int(level) for level in args.levels.split(",")]
    options = objectives.STRATEGY_OPTIONS.get(args.strategy, {})
    es = EarlyStopping(rungs=geometric_rungs(1, args.eta, args.epochs), max_epochs=args.epochs,
                       reduction_factor=args.eta)
    regret: dict[str, dict[int, list[float]]] = {m: {lv: [] for lv in levels} for m in MODES}
    top: dict[str, dict[int, list[float]]] = {m: {lv: [] for lv in levels} for m in MODES}
    pairs = []
    for seed in seeds:
        objective = synthetic_objective(seed, args.epochs)
        _, optimum = objective.optimum()
        threshold = objective.top_threshold(0.001)
        curves = {}
        for mode in MODES:
            # Enough children to spend the largest level: every child trains >= 1 epoch.
            budget = -(-max(levels) // args.epochs) if mode == "full" else max(levels)
            strategy = strategies.make(args.strategy, objective.space, seed=seed, **options)
            result = scheduler.run_in_process(strategy, objective, budget,
                                              early_stopping=es if mode == "asha" else None)
            # The incumbent is the best *observed* full child; its true value is what counts.
            curves[mode] = incumbent_curve(result.trials, objective, args.epochs)
            for level in levels:
                value = best_within(curves[mode], level)
                value = 0.0 if value is None else value
                regret[mode][level].append(optimum - value)
                top[mode][level].append(float(value >= threshold))
        target = best_within(curves["full"], max(levels))
        pairs.append({"seed": seed, "target": target, "full_cost": float(max(levels)),
                      "asha_cost_to_target": cost_to_reach(curves["asha"], target)
                      if target is not None else None})
    table = {mode: {level: {"regret_mean": statistics.fmean(regret[mode][level]),
                            "regret_sd": statistics.pstdev(regret[mode][level]),
                            "top": statistics.fmean(top[mode][level])}
                    for level in levels} for mode in MODES}
    return {"levels": levels, "table": table, "pairs": pairs, **summarize_pairs(pairs)}


def incumbent_curve(trials: Sequence[Trial], objective: Any,
                    max_epochs: int) -> list[tuple[float, float | None]]:
    """After each evaluation: child-epochs spent and the true value of the incumbent (the
    fully trained child with the best observed reward so far)."""
    ordered = sorted((t for t in trials if t.status != "duplicate"),
                     key=lambda t: t.evaluation)
    spent, incumbent, curve = 0, None, []
    for t in ordered:
        spent += child_epochs(t, max_epochs)
        if is_full(t) and (incumbent is None or t.reward > incumbent.reward):
            incumbent = t
        curve.append((float(spent), None if incumbent is None
                      else objective.true_value(incumbent.choices)))
    return curve


# -- output -------------------------------------------------------------------------------
def _f(value: Any, spec: str = ".4f") -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) \
        else format(value, spec)


def digits_table(out: dict[str, Any]) -> str:
    lines = ["| seed | best acc, no ES | CPU s, no ES | children | CPU s of ES to reach it | "
             "ratio | ES best (CPU s) | ES best within half | child-epochs no ES / ES | "
             "CPU s of no ES to reach it | ratio of times to reach it |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row, ratio, time_ratio in zip(out["rows"], out["ratios"], out["time_to_best_ratios"]):
        lines.append(
            f"| {row['seed']} | {_f(row['target'])} | {row['full_cost']:.0f} | "
            f"{row['full_children']} / {row['asha_children']} | "
            f"{_f(row['asha_cost_to_target'], '.0f')} | {_f(ratio, '.2f')} | "
            f"{_f(row['asha_best'])} ({row['asha_cost']:.0f}) | {_f(row['asha_best_at_half'])} | "
            f"{row['full_epochs']} / {row['asha_epochs']} | "
            f"{_f(row['full_cost_to_target'], '.0f')} | {_f(time_ratio, '.2f')} |")
    lines.append(f"\nmedian ratio {_f(out['median_ratio'], '.2f')} (goal <= {GOAL_RATIO}); "
                 f"{out['seeds_reaching']}/{len(out['rows'])} seeds reached the accuracy; "
                 f"goal met: {'yes' if out['goal_met'] else 'no'}")
    for row in out["rows"]:
        noise = row.get("noise")
        if noise:
            half = row["asha_best_at_half"]
            lines.append(
                f"seed {row['seed']}: on {noise['images']} validation images the best "
                f"accuracy {_f(row['target'])} has a binomial standard error of "
                f"{noise['standard_error']:.4f} ({noise['standard_error_images']:.1f} images); "
                + ("ES has no fully trained child within half the CPU seconds" if half is None
                   else f"ES's best within half the CPU seconds is "
                        f"{_images_apart(row['gap_images_at_half'])}"))
        if row.get("rung_tau"):
            taus = ", ".join(f"after {rung} epoch(s) {_f(v['tau'], '+.2f')} (p "
                             f"{_f(v['p_value'], '.2f')}, n {v['n']})"
                             for rung, v in row["rung_tau"].items())
            lines.append(f"seed {row['seed']}: Kendall tau of the fully trained children's "
                         f"validation accuracy at the rungs against their final one: {taus}")
    lines.append(f"median ratio of the times to reach it "
                 f"{_f(out['median_time_to_best_ratio'], '.2f')}: the CPU seconds early stopping "
                 f"took to reach the accuracy over those the search without it took to first "
                 f"reach it (the goal's ratio divides by the whole search without it; where the "
                 f"validation accuracy saturates early, this one is the stricter reading)")
    return "\n".join(lines)


def _images_apart(gap: int) -> str:
    """``gap`` images below the best accuracy, in words (negative: above it)."""
    if gap == 0:
        return "equal to it"
    return f"{abs(gap)} image(s) {'below' if gap > 0 else 'above'} it"


def synthetic_table(out: dict[str, Any]) -> str:
    lines = ["| child-epochs | regret, no ES | regret, ES | P(top 0.1%), no ES | P(top 0.1%), ES |",
             "|---:|---:|---:|---:|---:|"]
    for level in out["levels"]:
        full, asha = out["table"]["full"][level], out["table"]["asha"][level]
        lines.append(f"| {level} | {full['regret_mean']:.4f} ± {full['regret_sd']:.4f} | "
                     f"{asha['regret_mean']:.4f} ± {asha['regret_sd']:.4f} | "
                     f"{full['top']:.2f} | {asha['top']:.2f} |")
    lines.append(f"\nchild-epochs of ES to reach the final incumbent of no ES, over "
                 f"{len(out['pairs'])} seeds: median ratio {_f(out['median_ratio'], '.2f')} "
                 f"({out['seeds_reaching']} seeds reached it); goal met: "
                 f"{'yes' if out['goal_met'] else 'no'}")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: str) -> None:
    import io  # noqa: PLC0415

    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    from nasnet import io_utils  # noqa: PLC0415

    parts = [p for p in ("digits", "synthetic") if p in results]
    fig, axes = plt.subplots(1, len(parts), figsize=(6 * len(parts), 4), dpi=100, squeeze=False)
    try:
        for ax, part in zip(axes[0], parts):
            if part == "digits":
                for row in results["digits"]["rows"]:
                    for mode, style in (("full", "-"), ("asha", "--")):
                        points = [(c, b) for c, b in row["curves"][mode] if b is not None]
                        if points:
                            label = f"seed {row['seed']} {'ES' if mode == 'asha' else 'no ES'}"
                            ax.step(*zip(*points), style, where="post", label=label)
                ax.set_xlabel("CPU seconds")
                ax.set_ylabel("best validation accuracy (full children)")
                ax.set_title("digits")
            else:
                out = results["synthetic"]
                for mode, label in (("full", "no ES"), ("asha", "ES (ASHA)")):
                    ax.plot(out["levels"], [out["table"][mode][lv]["regret_mean"]
                                            for lv in out["levels"]], marker="o", label=label)
                ax.set_xscale("log")
                ax.set_xlabel("child-epochs")
                ax.set_ylabel("mean regret of the incumbent")
                ax.set_title(f"synthetic learning curves ({len(out['pairs'])} seeds)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    io_utils.atomic_write_bytes(path, buf.getvalue())


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("both", "digits", "synthetic"), default="both")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds (default: 3 for digits, 20 for synthetic)")
    parser.add_argument("--epochs", type=int, default=9, help="a full child's epochs")
    parser.add_argument("--eta", type=int, default=3, help="reduction factor")
    parser.add_argument("--budget", type=int, default=24, help="digits children without ES")
    parser.add_argument("--budget_es", type=int, default=72, help="digits children with ES")
    parser.add_argument("--filters", type=int, default=8, help="digits child F")
    parser.add_argument("--image_size", type=int, default=16, help="digits image size")
    parser.add_argument("--validation_size", type=int, default=None,
                        help="digits validation images (default: 150; at most 1487, taken "
                             "from the training images)")
    parser.add_argument("--steps", type=int, default=None,
                        help="digits steps per epoch (default: one pass) and validation steps")
    parser.add_argument("--strategy", default="evolution",
                        help="the strategy of both parts (digits: evolution is the "
                             "quickstart_asha experiment's, with its options)")
    parser.add_argument("--levels", default="45,90,180,360,720",
                        help="synthetic child-epoch budgets")
    parser.add_argument("--workdir", default=None, help="keep (and resume) the digits searches")
    parser.add_argument("--tiny", action="store_true", help="a smoke run of the script")
    parser.add_argument("--json", default=None)
    parser.add_argument("--plot", default=None, help="a PNG of the curves")
    args = parser.parse_args(argv)
    if args.tiny:
        args.epochs, args.budget, args.budget_es, args.steps = 3, 2, 3, 3
        args.levels, args.seeds = "9,18", args.seeds or 1
    for name in ("epochs", "budget", "budget_es"):
        if getattr(args, name) < 1 or (name == "epochs" and args.epochs < 2):
            parser.error(f"--{name} is too small: {getattr(args, name)}")
    if args.eta < 2:
        parser.error(f"--eta must be >= 2, got {args.eta}")
    if args.strategy not in strategies.names():
        parser.error(f"unknown strategy {args.strategy!r}; known: {strategies.names()}")
    if args.part in ("both", "digits"):
        try:   # a bad child (size, filters, validation size) fails before any search runs
            digits_config(args.epochs, args.eta, args.filters, args.image_size, args.steps,
                          args.validation_size)
        except ValueError as e:
            parser.error(str(e))
    results: dict[str, Any] = {"args": vars(args)}
    if args.part in ("both", "synthetic"):
        seeds = range(args.seeds or 20)
        start = time.process_time()
        results["synthetic"] = run_synthetic(args, seeds)
        results["synthetic"]["cpu_seconds"] = time.process_time() - start
        print(f"\n## synthetic learning curves: {args.strategy}, {len(seeds)} seeds, "
              f"{args.epochs}-epoch curves, rungs {list(geometric_rungs(1, args.eta, args.epochs))}"
              f"\n\n{synthetic_table(results['synthetic'])}\n", flush=True)
    if args.part in ("both", "digits"):
        seeds = range(args.seeds or 3)
        with tempfile.TemporaryDirectory() as tmp:
            results["digits"] = run_digits(args, seeds, args.workdir or tmp)
        print(f"\n## digits: {args.strategy}, {args.budget} children without ES, {args.budget_es} "
              f"with ES, {args.epochs}-epoch children (F={args.filters}, "
              f"{args.image_size} px, {args.validation_size or 150} validation images)"
              f"\n\n{digits_table(results['digits'])}\n", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2, default=str)
    if args.plot:
        plot(results, args.plot)
    try:
        print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    except OSError:
        pass
    return results


if __name__ == "__main__":
    main()
