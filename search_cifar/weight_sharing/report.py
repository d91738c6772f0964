"""What a finished weight-sharing search leaves in ``report/``, and its printed summary.

The same report as a trial search's (``search_cifar/report.py``), from what a
weight-sharing search has instead of trial records:

* ``best_genotype.json``: the derived cell (``Genotype.save``; ``transfer``,
  ``detection`` and the zoo read it unchanged) and ``best_cell/{normal,
  reduction}.{png,svg}`` (``nasnet.diagram``);
* ``rewards.png``: left, the controller's reward per controller step (the mean
  of its ``architectures_per_step`` shared-weight accuracies), the per-epoch
  best and the supernet's training accuracy per epoch; right, the shared-weight
  validation accuracy of every derived candidate, best first (how far apart
  the sampled cells are);
* ``top_k.md``: the best derived candidates (rank, shared-weight accuracy,
  fingerprint, both cells in one line each), and the retrained accuracy of
  the first when it was retrained;
* ``summary.json``: the loop's summary (``loop.summarize``).

``summary_lines(summary, workdir)`` is what the ``search`` binary prints at
the end. Every file is written atomically (``nasnet.io_utils``).

Example:
    >>> paths = write_report("out/enas_quickstart", "enas_quickstart", candidates, summary)
    >>> paths["best_genotype"]
    'out/enas_quickstart/report/best_genotype.json'
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from nasnet import artifacts, io_utils
from search_cifar import report as trial_report
from search_cifar.report import cell_text, format_duration
from search_cifar.weight_sharing.derive import Candidate

REPORT_DIR = artifacts.SEARCH_REPORT_DIR
TOP_K = 10


def top_k_table(name: str, candidates: Sequence[Candidate], k: int = TOP_K,
                retrained: dict[str, Any] | None = None) -> str:
    """The ``k`` best derived candidates as a Markdown table."""
    lines = [f"# {name}: the best {min(k, len(candidates))} of {len(candidates)} derived "
             f"candidates", "",
             "Accuracy: with the shared weights, on the same validation images for every "
             "candidate.", ""]
    if retrained is not None:
        reward = retrained.get("reward")
        lines += [f"Rank 1 retrained from scratch: validation accuracy "
                  f"{'FAILED' if reward is None else f'{reward:.4f}'}.", ""]
    lines += ["| rank | accuracy | draw | fingerprint | normal cell | reduction cell |",
              "|---:|---:|---:|---|---|---|"]
    for i, c in enumerate(candidates[:k]):
        lines.append(f"| {i + 1} | {c.accuracy:.4f} | {c.draw} | `{c.genotype.fingerprint()}` | "
                     f"{cell_text(c.genotype.normal)} | {cell_text(c.genotype.reduction)} |")
    return "\n".join(lines) + "\n"


def plot_rewards(history: Sequence[dict[str, Any]], candidates: Sequence[Candidate], path: str,
                 title: str) -> str:
    """The controller's rewards and the derived candidates' accuracies (PNG; see above)."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100,
                                      gridspec_kw={"width_ratios": [2, 1]})
    try:
        steps, rewards, ends, best, accuracy = [], [], [], [], []
        for entry in history:
            for reward in entry.get("step_rewards") or []:
                steps.append(len(steps) + 1)
                rewards.append(reward)
            ends.append(len(steps))
            best.append(entry.get("reward_max"))
            accuracy.append(entry.get("accuracy"))
        if rewards:
            left.plot(steps, rewards, ".", markersize=3, color="#1f77b4",
                      label="reward per controller step (mean)")
            shown = [(x, b) for x, b in zip(ends, best) if b is not None]
            if shown:
                left.step(*zip(*shown), where="post", color="#d62728", label="best of the epoch")
            left.set_xlabel("controller step")
        else:
            left.set_xlabel("epoch end (no controller steps: random search)")
        shown = [(x, a) for x, a in zip(ends, accuracy) if a is not None]
        if shown:
            left.plot(*zip(*shown), "-", color="#7f7f7f", linewidth=1,
                      label="supernet training accuracy (epoch)")
        left.set_ylabel("accuracy")
        left.set_title(title)
        left.grid(alpha=0.3)
        if rewards or shown:
            left.legend(loc="lower right", fontsize=8)
        right.plot(range(1, len(candidates) + 1), [c.accuracy for c in candidates], ".-",
                   color="#2ca02c", markersize=4)
        right.set_xlabel("derived candidate (rank)")
        right.set_ylabel("shared-weight validation accuracy")
        right.set_title(f"{len(candidates)} derived candidates")
        right.grid(alpha=0.3)
        trial_report.save_figure(fig, path)
    finally:
        plt.close(fig)
    return path


def write_report(workdir: str, name: str, candidates: Sequence[Candidate],
                 summary: dict[str, Any], pictures: bool = True,
                 top_k: int = TOP_K) -> dict[str, Any]:
    """Writes ``<workdir>/report/`` (see the module docstring); returns the paths."""
    if not candidates:
        raise ValueError("a weight-sharing report needs at least one derived candidate")
    out_dir = os.path.join(workdir, REPORT_DIR)
    os.makedirs(out_dir, exist_ok=True)
    best = candidates[0].genotype.with_name(f"{name}_derived")
    paths: dict[str, Any] = {"best_genotype": os.path.join(out_dir, artifacts.BEST_GENOTYPE_FILE)}
    best.save(paths["best_genotype"])
    if pictures:
        from nasnet import diagram  # noqa: PLC0415 -- graphviz only when drawing
        paths["best_cell"] = diagram.render_genotype(best, os.path.join(out_dir, "best_cell"))
    paths["rewards_plot"] = plot_rewards(summary.get("history") or [], candidates,
                                         os.path.join(out_dir, "rewards.png"), name)
    paths["top_k"] = os.path.join(out_dir, "top_k.md")
    io_utils.atomic_write_text(paths["top_k"], top_k_table(name, candidates, top_k,
                                                           summary.get("retrain")))
    paths["summary_json"] = os.path.join(out_dir, "summary.json")
    io_utils.atomic_write_json(paths["summary_json"],
                               {k: v for k, v in summary.items() if k != "report"})
    return paths


def summary_lines(summary: dict[str, Any], workdir: str) -> list[str]:
    """The end-of-run text of the ``search`` binary (paths relative to the caller's
    directory when below it)."""
    def rel(path: str) -> str:
        short = os.path.relpath(path, os.environ.get("BUILD_WORKING_DIRECTORY", os.getcwd()))
        return path if short.startswith("..") else short

    lines = [""]
    state = "done" if summary["finished"] else "stopped"
    lines.append(f"weight-sharing search {summary['name']!r} {state} after {summary['epochs']}/"
                 f"{summary['total_epochs']} epochs and {summary['controller_steps']} controller "
                 f"steps: {format_duration(summary['wall_seconds'])} wall, "
                 f"{summary['cpu_seconds']:.0f} CPU-s (retraining excluded)")
    best = summary.get("best")
    if best is not None:
        lines.append(f"derived: {best['fingerprint']}, shared-weight accuracy "
                     f"{best['accuracy']:.4f} (best of {summary['num_candidates']} candidates)")
    retrained = summary.get("retrain")
    if retrained is not None:
        outcome = (f"FAILED: {retrained['error']}" if retrained.get("error")
                   else f"validation accuracy {retrained['reward']:.4f}")
        lines.append(f"retrained from scratch: {outcome} ({retrained['cpu_seconds']:.0f} CPU-s)")
    paths = summary.get("report") or {}
    if "top_k" in paths:
        lines.append("")
        with open(paths["top_k"], encoding="utf-8") as f:
            lines.append(f.read().rstrip("\n"))
        lines.append("")
    lines.append("files:")
    if paths:
        lines.append(f"  best genotype       {rel(paths['best_genotype'])}")
        if "best_cell" in paths:
            lines.append(f"  best cell pictures  "
                         f"{', '.join(rel(p) for p in paths['best_cell'] if p.endswith('.png'))}")
        lines.append(f"  reward plot         {rel(paths['rewards_plot'])}")
        lines.append(f"  top-k table         {rel(paths['top_k'])}")
        lines.append(f"  derived candidates  "
                     f"{rel(os.path.join(workdir, artifacts.DERIVED_CANDIDATES_FILE))}")
    lines.append(f"  TensorBoard         tensorboard --logdir "
                 f"{rel(os.path.join(workdir, artifacts.TENSORBOARD_DIR))}")
    return lines
