"""What a search shows: progress lines, TensorBoard scalars, plots, tables, pictures.

During a search (``Reporter``, the driver's ``on_trial`` callback):

* one progress line per finished trial::

      [ 12/30] trial 13  reward 0.4867  best 0.5133 (trial 7)  |  3m05s  3.9 trials/min  24.8s  node 5f3a9c

  ``[evaluations finished / budget]``, the proposal id, its reward (or
  ``FAILED: <error>``, or ``duplicate of trial k``), under early stopping its
  fidelity (``[3/9 epochs, stopped]``), the best reward so far
  and its trial, the wall time of this run, evaluations finished per minute
  in this run, the trial's own duration and the Ray node it ran on;
* TensorBoard scalars under ``<workdir>/tensorboard/`` (step = evaluation
  number): ``search/reward``, ``search/best_reward``, ``search/failed`` (count
  so far) and, when the strategy has a ``diagnostics()`` method returning
  ``{name: float}`` (the hook for controller statistics: an RL strategy's
  ``loss`` and ``entropy``), ``controller/<name>``;
* ``<workdir>/best.json``: the top-k trials so far with their genotypes,
  rewritten after every trial.

At the end, and on demand (``search --report_only``), ``write_report`` writes
``<workdir>/report/``: ``best_genotype.json`` (``Genotype.load`` reads it),
``best_cell/{normal,reduction}.{png,svg}`` (``nasnet.diagram``),
``rewards.png`` (reward versus evaluation, running best, the random initial
proposals shaded), ``top_k.md`` (a Markdown table) and ``summary.json``;
given a cost axis, ``pareto.png`` and ``pareto.md`` (accuracy versus the
cost of the network each cell will become, the front highlighted:
``pareto.py``). Every child is also a session of TensorBoard's HParams
dashboard (``hparams.py``): added by the ``Reporter`` as it finishes, and
rewritten whole with the report. Under early stopping the plot marks the
children stopped at each rung, the table has an ``epochs`` column (``3/9
stopped``), and the summary counts the child-epochs trained and those early
stopping saved (``child_epochs_saved``: the epochs the stopped children would
still have trained). Every file is written atomically.

Example:
    >>> reporter = Reporter("/tmp/search", budget=30, strategy=strategy)
    >>> scheduler.run(strategy, evaluator, 30, executor, store, on_trial=reporter)
    >>> reporter.close()
    >>> paths = write_report("/tmp/search", trials, top_k=5, num_random=10)
"""

from __future__ import annotations

import io
import math
import os
import statistics
import sys
import time
from typing import Any, Callable, Sequence, TextIO

from nasnet import artifacts, io_utils
from nasnet.genotype import Cell, Genotype
from search_cifar import hparams, pareto
from search_cifar.trial_store import Trial

REPORT_DIR = artifacts.SEARCH_REPORT_DIR
BEST_JSON = artifacts.SEARCH_BEST_FILE
TENSORBOARD_DIR = artifacts.TENSORBOARD_DIR


# -- numbers ---------------------------------------------------------------------
def ok_trials(trials: Sequence[Trial]) -> list[Trial]:
    return [t for t in trials if t.status == "ok"]


def top_trials(trials: Sequence[Trial], k: int) -> list[Trial]:
    """The k best evaluated trials, best first (ties: the earlier trial)."""
    return sorted(ok_trials(trials), key=lambda t: (-t.reward, t.id))[:k]


def epochs_trained(trial: Trial) -> int | None:
    """The epochs a trial's child trained: its fidelity's, else ``metrics["epochs_completed"]``."""
    if trial.fidelity is not None:
        return trial.fidelity.epochs
    epochs = (trial.metrics or {}).get("epochs_completed")
    return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None


def fidelity_text(trial: Trial) -> str:
    """``3/9 stopped`` or ``9/9`` under early stopping; empty otherwise."""
    f = trial.fidelity
    if f is None:
        return ""
    return f"{f.epochs}/{f.max_epochs}" + (" stopped" if f.stopped_early else "")


def early_stopping_summary(trials: Sequence[Trial]) -> dict[str, Any]:
    """Child-epochs trained and saved: a stopped child saves the epochs it would still
    have trained (``max_epochs - epochs``); a failed one saves nothing."""
    evaluated = [t for t in trials if t.status != "duplicate"]
    epochs = [e for e in map(epochs_trained, evaluated) if e is not None]
    stopped = [t.fidelity for t in evaluated if t.fidelity is not None and t.fidelity.stopped_early]
    staged = any(t.fidelity is not None for t in evaluated)
    trained = sum(epochs) if epochs else None
    saved = sum(f.max_epochs - f.epochs for f in stopped) if staged else None
    full = trained + saved if trained is not None and saved is not None else None
    return {"child_epochs": trained,
            "num_stopped_early": len(stopped) if staged else None,
            "child_epochs_saved": saved,
            "child_epochs_if_full": full,
            "child_epochs_saved_fraction": saved / full if full else None}


def summarize(trials: Sequence[Trial], num_random: int | None = None) -> dict[str, Any]:
    """Counts and rewards of a search.

    ``num_random`` (the strategy's ``num_random_proposals``): proposals ``id <
    num_random`` were drawn uniformly at random (an evolution's initial
    population); their mean reward is the baseline the best trial is compared
    with. None: every proposal counts as random (random search); 0: none does
    (no baseline).
    """
    evaluated = [t for t in trials if t.status != "duplicate"]
    ok = ok_trials(trials)
    best = top_trials(trials, 1)
    rand = [t.reward for t in ok if num_random is None or t.id < num_random]
    later = [t.reward for t in ok if num_random is not None and t.id >= num_random]
    durations = [t.duration for t in evaluated if t.duration is not None]
    cpu = [t.metrics["cpu_seconds"] for t in evaluated
           if isinstance((t.metrics or {}).get("cpu_seconds"), (int, float))]
    out: dict[str, Any] = {
        "num_trials": len(trials),
        "num_evaluated": len(evaluated),
        "num_ok": len(ok),
        "num_failed": sum(t.status == "failed" for t in trials),
        "num_duplicates": sum(t.status == "duplicate" for t in trials),
        "best_reward": best[0].reward if best else None,
        "best_trial": best[0].id if best else None,
        "best_fingerprint": best[0].key if best else None,
        "num_random": num_random,
        "random_count": len(rand),
        "random_mean_reward": statistics.fmean(rand) if rand else None,
        "later_count": len(later),
        "later_mean_reward": statistics.fmean(later) if later else None,
        "mean_trial_seconds": statistics.fmean(durations) if durations else None,
        "total_trial_cpu_seconds": sum(cpu) if cpu else None,
        "mean_trial_cpu_seconds": statistics.fmean(cpu) if cpu else None,
    }
    out.update(early_stopping_summary(trials))
    return out


def format_duration(seconds: float) -> str:
    """``42s``, ``3m07s``, ``1h02m`` (a negative estimate reads as ``0s``)."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_line(trial: Trial, num_evaluated: int, budget: int, best: Trial | None,
                  elapsed: float, evaluations_this_run: int) -> str:
    """One line for one finished trial (see the module docstring)."""
    width = len(str(budget))
    head = f"[{num_evaluated:>{width}}/{budget}] trial {trial.id:<{width}}"
    if trial.status == "ok":
        what = f"reward {trial.reward:.4f}"
        if trial.fidelity is not None:
            f = trial.fidelity
            what += f" [{f.epochs}/{f.max_epochs} epochs{', stopped' if f.stopped_early else ''}]"
    elif trial.status == "failed":
        error = (trial.error or "").strip().splitlines()
        what = "FAILED: " + (error[0][:80] if error else "unknown error")
    else:
        reward = "failed" if trial.reward is None else f"{trial.reward:.4f}"
        what = f"duplicate of trial {trial.duplicate_of} ({reward})"
    best_text = f"best {best.reward:.4f} (trial {best.id})" if best else "best -"
    rate = evaluations_this_run / (elapsed / 60.0) if elapsed > 0 else 0.0
    tail = f"{format_duration(elapsed)}  {rate:.1f} trials/min"
    if trial.duration is not None:
        tail += f"  {trial.duration:.1f}s"
    node = (trial.metrics or {}).get("node_id")
    if node:
        tail += f"  node {node[:6]}"
    return f"{head}  {what}  {best_text}  |  {tail}"


# -- during the search ------------------------------------------------------------
def strategy_diagnostics(strategy: Any) -> dict[str, float]:
    """``strategy.diagnostics()`` as finite floats ({} when it has none).

    The optional hook for controller statistics: a strategy may define
    ``diagnostics() -> {name: number}`` (e.g. an RL controller's last ``loss``
    and mean ``entropy``); they are logged as ``controller/<name>``.
    """
    hook = getattr(strategy, "diagnostics", None)
    if not callable(hook):
        return {}
    values = hook() or {}
    out = {}
    for name, value in values.items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            out[str(name)] = value
    return out


class ScalarWriter:
    """TensorBoard scalars through tensorboard's own event-file writer.

    (tensorboardX would import PyTorch, when installed, for nine seconds; tf.summary
    needs an eager context; this needs only the tensorboard package.)
    """

    def __init__(self, logdir: str, flush_secs: int = 5):
        self.logdir, self.flush_secs = logdir, flush_secs
        self._writer = None  # the event file is made with the first scalar: a run that
        # records nothing (it failed, or was interrupted, before its first trial) leaves none

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: PLC0415
        if self._writer is None:
            from tensorboard.summary.writer.event_file_writer import (  # noqa: PLC0415
                EventFileWriter)
            self._writer = EventFileWriter(self.logdir, flush_secs=self.flush_secs)
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(value))])
        self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(step),
                                               summary=summary))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class Reporter:
    """The driver's ``on_trial`` callback: progress line, TensorBoard, best.json.

    Args:
        workdir: the search's work directory (None: print only).
        budget: evaluations of the whole search (for ``[n/budget]``).
        strategy: read for ``diagnostics()`` after every tell.
        top_k: how many trials ``best.json`` keeps.
        stream: where progress lines go.
        tensorboard: write TensorBoard scalars.
    """

    def __init__(self, workdir: str | None, budget: int, strategy: Any = None, top_k: int = 10,
                 stream: TextIO | None = None, tensorboard: bool = True,
                 clock: Callable[[], float] = time.monotonic):
        self.workdir, self.budget, self.strategy, self.top_k = workdir, budget, strategy, top_k
        self.stream = stream if stream is not None else sys.stdout
        self.clock = clock
        self.start = clock()
        self.evaluations_this_run = 0
        self.writer = None
        if tensorboard and workdir is not None:
            self.writer = ScalarWriter(os.path.join(workdir, TENSORBOARD_DIR))

    def __call__(self, trial: Trial, result: Any) -> None:
        trials = result.trials
        if trial.status != "duplicate":
            self.evaluations_this_run += 1
        best = top_trials(trials, 1)
        best = best[0] if best else None
        line = progress_line(trial, result.num_evaluated, self.budget, best,
                             self.clock() - self.start, self.evaluations_this_run)
        print(line, file=self.stream, flush=True)
        if self.writer is not None and trial.status != "duplicate" and trial.evaluation is not None:
            step = trial.evaluation
            if trial.status == "ok":
                self.writer.add_scalar("search/reward", trial.reward, step)
            if best is not None:
                self.writer.add_scalar("search/best_reward", best.reward, step)
            failed = sum(t.status == "failed" for t in trials)
            self.writer.add_scalar("search/failed", failed, step)
            for name, value in strategy_diagnostics(self.strategy).items():
                self.writer.add_scalar(f"controller/{name}", value, step)
            space = getattr(self.strategy, "space", None)
            if space is not None:  # the child as an HParams session (hparams.py)
                hparams.write_session(self.writer.logdir, trial, space)
        if self.workdir is not None:
            write_best_json(self.workdir, trials, self.top_k)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _trial_entry(rank: int, t: Trial) -> dict[str, Any]:
    entry = {"rank": rank, "trial": t.id, "reward": t.reward, "fingerprint": t.key,
             "metrics": {k: v for k, v in (t.metrics or {}).items() if k != "history"},
             "genotype": t.genotype}
    if t.fidelity is not None:
        entry["fidelity"] = {k: v for k, v in t.to_dict()["fidelity"].items() if k != "decisions"}
    return entry


def write_best_json(workdir: str, trials: Sequence[Trial], k: int) -> str:
    path = os.path.join(workdir, BEST_JSON)
    io_utils.atomic_write_json(path, {"top": [_trial_entry(i + 1, t)
                                              for i, t in enumerate(top_trials(trials, k))]})
    return path


# -- at the end -------------------------------------------------------------------
def cell_text(cell: Cell) -> str:
    """A one-line cell: ``sep 3x3(0) + identity(1); max 3x3(2) + ...``.

    Inputs are hidden-state indices: 0 = h[k-1], 1 = h[k-2], 2 + b = block b.
    """
    from nasnet.diagram import op_label  # graphviz import, only when used
    blocks = [f"{op_label(b.op_a)}({b.input_a}) {'+' if b.combine.value == 'add' else '|'} "
              f"{op_label(b.op_b)}({b.input_b})" for b in cell.blocks]
    return "; ".join(blocks)


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def top_k_table(trials: Sequence[Trial], k: int) -> str:
    """The k best architectures as a Markdown table (with the epochs each trained, out of
    the full epochs, when the search stopped children early)."""
    top = top_trials(trials, k)
    staged = any(t.fidelity is not None for t in trials)
    epochs_head, epochs_align = (" epochs |", "---:|") if staged else ("", "")
    rows = [f"| rank | trial | reward |{epochs_head} params | train s | fingerprint | "
            f"normal cell | reduction cell |",
            f"|---:|---:|---:|{epochs_align}---:|---:|---|---|---|"]
    for i, t in enumerate(top):
        m = t.metrics or {}
        if t.genotype is not None:
            g = Genotype.from_dict(t.genotype)
            normal, reduction = cell_text(g.normal), cell_text(g.reduction)
        else:
            normal = reduction = "choices " + ",".join(map(str, t.choices))
        epochs = f" {fidelity_text(t) or '-'} |" if staged else ""
        rows.append(f"| {i + 1} | {t.id} | {t.reward:.4f} |{epochs} "
                    f"{_fmt(m.get('num_params'), ',')} | "
                    f"{_fmt(t.duration, '.1f')} | `{t.key}` | {normal} | {reduction} |")
    return "\n".join(rows) + "\n"


_RUNG_COLOURS = ("#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def plot_rewards(trials: Sequence[Trial], path: str, num_random: int | None = None,
                 title: str = "search") -> str:
    """Reward versus evaluation number, the running best, failures at the bottom (PNG)."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    evaluated = sorted((t for t in trials if t.status != "duplicate"),
                       key=lambda t: t.evaluation if t.evaluation is not None else t.id)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        ok = [(i, t) for i, t in enumerate(evaluated) if t.status == "ok"]
        is_random = (lambda t: True) if num_random is None else (lambda t: t.id < num_random)
        rand = [(i, t.reward) for i, t in ok if is_random(t)]
        rest = [(i, t.reward) for i, t in ok if not is_random(t)]
        if rand:
            ax.scatter(*zip(*rand), s=18, color="#9e9e9e",
                       label="random proposals" if num_random is not None else "trials")
            mean = statistics.fmean(r for _, r in rand)
            ax.axhline(mean, color="#9e9e9e", linestyle="--", linewidth=1,
                       label=f"mean of random proposals ({mean:.3f})")
        if rest:
            ax.scatter(*zip(*rest), s=18, color="#1f77b4", label="strategy's proposals")
        # Early stopping: ring the children stopped at each rung, one colour per rung.
        stopped: dict[int, list[tuple[int, float]]] = {}
        for i, t in ok:
            if t.fidelity is not None and t.fidelity.stopped_early:
                stopped.setdefault(t.fidelity.epochs, []).append((i, t.reward))
        for n, (epochs, points) in enumerate(sorted(stopped.items())):
            ax.scatter(*zip(*points), s=60, facecolors="none", linewidths=1.2,
                       edgecolors=_RUNG_COLOURS[n % len(_RUNG_COLOURS)],
                       label=f"stopped after {epochs} epoch{'s' if epochs > 1 else ''} "
                             f"({len(points)})")
        best, running = -math.inf, []
        for i, t in enumerate(evaluated):
            if t.status == "ok":
                best = max(best, t.reward)
            running.append(best if math.isfinite(best) else None)
        xs = [i for i, b in enumerate(running) if b is not None]
        if xs:
            ax.step(xs, [running[i] for i in xs], where="post", color="#d62728",
                    label=f"best so far ({best:.3f})")
        failed = [i for i, t in enumerate(evaluated) if t.status == "failed"]
        if failed:
            low = min((t.reward for _, t in ok), default=0.0)
            ax.scatter(failed, [low] * len(failed), marker="x", color="#d62728", s=24,
                       label=f"failed ({len(failed)})")
        ax.set_xlabel("evaluation (in order of completion)")
        ax.set_ylabel("reward (validation accuracy)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if evaluated:  # stopped children crowd the bottom: then let matplotlib place it
            ax.legend(loc="best" if stopped else "lower right", fontsize=8)
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return path


def save_figure(fig: Any, path: str) -> None:
    """A matplotlib figure written atomically to ``path`` as PNG (laid out tight)."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    io_utils.atomic_write_bytes(path, buf.getvalue())


def write_report(workdir: str, trials: Sequence[Trial], *, top_k: int = 10,
                 num_random: int | None = None, title: str = "search",
                 pictures: bool = True, pareto_axis: pareto.Axis | None = None,
                 reward: str | None = None, hparams_space: Any = None) -> dict[str, Any]:
    """Writes ``<workdir>/report/`` (see the module docstring); returns the paths.

    Returns a dict with ``summary`` (``summarize``), and the paths under
    ``best_genotype``, ``best_cell`` (a list), ``rewards_plot``, ``top_k``,
    ``summary_json``; the best-trial entries are absent when no trial succeeded.
    ``pareto_axis``: also the accuracy-cost front (``pareto.write``: ``pareto_plot``,
    ``pareto_table``; its numbers in the summary). ``reward``: how the rewards were
    made, for the summary. ``hparams_space``: also rewrite the TensorBoard HParams
    sessions of every child (``hparams.rewrite``, path ``hparams``).
    """
    out_dir = os.path.join(workdir, REPORT_DIR)
    os.makedirs(out_dir, exist_ok=True)
    summary = summarize(trials, num_random)
    paths: dict[str, Any] = {"summary": summary}
    best = top_trials(trials, 1)
    if best and best[0].genotype is not None:
        genotype = Genotype.from_dict(best[0].genotype).with_name(
            f"{title} trial {best[0].id}")
        path = os.path.join(out_dir, artifacts.BEST_GENOTYPE_FILE)
        genotype.save(path)
        paths["best_genotype"] = path
        if pictures:
            from nasnet import diagram  # noqa: PLC0415 -- graphviz only when drawing
            paths["best_cell"] = diagram.render_genotype(
                genotype, os.path.join(out_dir, "best_cell"))
    paths["rewards_plot"] = plot_rewards(trials, os.path.join(out_dir, "rewards.png"),
                                         num_random, title)
    table = os.path.join(out_dir, "top_k.md")
    io_utils.atomic_write_text(table, f"# {title}: top {top_k}\n\n" + top_k_table(trials, top_k))
    paths["top_k"] = table
    if reward is not None:
        summary["reward"] = reward
    if pareto_axis is not None:
        paths.update(pareto.write(out_dir, trials, pareto_axis, cell_text, title))
        summary.update(pareto.summary(trials, pareto_axis))
    if hparams_space is not None:
        paths["hparams"] = hparams.rewrite(os.path.join(workdir, TENSORBOARD_DIR), trials,
                                           hparams_space)
    paths["summary_json"] = os.path.join(out_dir, "summary.json")
    io_utils.atomic_write_json(paths["summary_json"], summary)
    write_best_json(workdir, trials, top_k)
    return paths
