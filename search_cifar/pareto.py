"""The accuracy-cost Pareto front of a search: which children no other child beats on both.

A child is on the front when no other child is at most as costly and at
least as accurate, and strictly better in one of the two (MnasNet, Tan et al.
2019, Sec. 3, calls these Pareto-optimal). Accuracy and cost are read from
the trial records (``metrics["accuracy"]`` and ``metrics["cost"]``, written by
``reward.CostAwareEvaluator``); the cost axis is mult-adds of the target
network or its measured latency.

``write(out_dir, trials, axis, describe_cell)`` writes ``pareto.png`` (every
child, the front highlighted, the target and its +-10 % band) and
``pareto.md`` (the front's cells, cheapest first). The front of two objectives
is a sort and one scan (``front``); a library's version (Optuna's
non-dominated sort is private API; pymoo's would be a new dependency) would
add more than it saves.

Example:
    >>> axis = Axis(cost="mult_adds", target=600e6, network="4@1056, imagenet stem, 224 px")
    >>> [t.id for t in front(trials, axis)]
    [3, 7, 12]
    >>> write("/tmp/search/report", trials, axis, report.cell_text)
"""

from __future__ import annotations

import dataclasses
import io
import os
from typing import Any, Callable, Sequence

from nasnet import io_utils
from nasnet.genotype import Cell, Genotype
from search_cifar.reward import ACCURACY, COST
from search_cifar.trial_store import Trial

PLOT_FILE, TABLE_FILE = "pareto.png", "pareto.md"
AXES = {"mult_adds": ("mult_adds", "mult-adds (M)", 1e6),
        "latency": ("latency_ms", "latency (ms)", 1.0)}
#: The band around the target that counts as "at the target" (+-10 %).
TARGET_BAND = 0.10


@dataclasses.dataclass(frozen=True)
class Axis:
    """The cost axis: ``cost`` (``mult_adds`` or ``latency``), its target (None: no target
    line) and the target network's description."""

    cost: str = "mult_adds"
    target: float | None = None
    network: str = ""

    def __post_init__(self):
        if self.cost not in AXES:
            raise ValueError(f"unknown cost axis {self.cost!r}; known: {sorted(AXES)}")

    @property
    def key(self) -> str:
        return AXES[self.cost][0]

    @property
    def label(self) -> str:
        return AXES[self.cost][1]

    @property
    def scale(self) -> float:
        return AXES[self.cost][2]


def point(trial: Trial, axis: Axis) -> tuple[float, float] | None:
    """``(cost, accuracy)`` of an ok trial that records both; None otherwise."""
    metrics = trial.metrics or {}
    cost = (metrics.get(COST) or {}).get(axis.key)
    if trial.status != "ok" or ACCURACY not in metrics or cost is None:
        return None
    return float(cost), float(metrics[ACCURACY])


def front(trials: Sequence[Trial], axis: Axis) -> list[Trial]:
    """The non-dominated trials, cheapest first (equal points are all kept)."""
    points = sorted(((p, t) for t in trials if (p := point(t, axis)) is not None),
                    key=lambda pt: (pt[0][0], -pt[0][1], pt[1].id))
    out: list[Trial] = []
    best: tuple[float, float] | None = None
    for (cost, accuracy), t in points:
        if best is None or accuracy > best[1] or (cost, accuracy) == best:
            out.append(t)
            best = (cost, accuracy)
    return out


def hypervolume(points: Sequence[tuple[float, float]], reference: tuple[float, float]) -> float:
    """The area dominated by ``(cost, accuracy)`` points (lower cost and higher accuracy
    are better) and bounded by ``reference = (worst cost, worst accuracy)``: the usual
    measure of how close a front is to the true one (Zitzler & Thiele 1998); points
    outside the reference box add nothing. One sort and one scan, as ``front``."""
    ref_cost, ref_accuracy = (float(v) for v in reference)
    area, best = 0.0, ref_accuracy
    for cost, accuracy in sorted((float(c), float(a)) for c, a in points):
        if cost < ref_cost and accuracy > best:
            area += (ref_cost - cost) * (accuracy - best)
            best = accuracy
    return area


def near_target(trials: Sequence[Trial], axis: Axis, band: float = TARGET_BAND) -> list[Trial]:
    """The trials whose cost is within ``band`` (relative) of the target."""
    if axis.target is None:
        return []
    return [t for t in trials if (p := point(t, axis)) is not None
            and abs(p[0] / axis.target - 1.0) <= band]


def summary(trials: Sequence[Trial], axis: Axis) -> dict[str, Any]:
    """Numbers for ``summary.json``: the front's trial ids, the best accuracy at or under
    the target and within its band."""
    at_or_under = [p[1] for t in trials if (p := point(t, axis)) is not None
                   and axis.target is not None and p[0] <= axis.target]
    near = [point(t, axis)[1] for t in near_target(trials, axis)]
    return {"pareto_front": [t.id for t in front(trials, axis)],
            "cost_axis": axis.cost, "cost_target": axis.target,
            "best_accuracy_at_or_under_target": max(at_or_under) if at_or_under else None,
            "best_accuracy_near_target": max(near) if near else None,
            "num_near_target": len(near)}


def table(trials: Sequence[Trial], axis: Axis, describe_cell: Callable[[Cell], str]) -> str:
    """The front as a Markdown table, cheapest first (mult-adds always; latency on that axis)."""
    latency = axis.cost == "latency"
    rows = ["| trial | accuracy | mult-adds (M) | " + ("latency (ms) | " if latency else "")
            + "reward | fingerprint | normal cell | reduction cell |",
            "|---:|---:|---:|" + ("---:|" if latency else "") + "---:|---|---|---|"]
    for t in front(trials, axis):
        cost, accuracy = point(t, axis)
        cells = f"{accuracy:.4f} | {t.metrics[COST]['mult_adds'] / 1e6:,.1f} | "
        if latency:
            cells += f"{cost:,.2f} | "
        if t.genotype is not None:
            g = Genotype.from_dict(t.genotype)
            normal, reduction = describe_cell(g.normal), describe_cell(g.reduction)
        else:
            normal = reduction = "choices " + ",".join(map(str, t.choices))
        rows.append(f"| {t.id} | {cells}{t.reward:.4f} | `{t.key}` | {normal} | {reduction} |")
    return "\n".join(rows) + "\n"


def plot(trials: Sequence[Trial], path: str, axis: Axis, title: str = "search") -> str:
    """Accuracy versus cost of every child, the front highlighted (PNG, written atomically)."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    points = [p for t in trials if (p := point(t, axis)) is not None]
    best = [point(t, axis) for t in front(trials, axis)]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        if points:
            xs, ys = zip(*points)
            ax.scatter([x / axis.scale for x in xs], ys, s=16, color="#9e9e9e",
                       label=f"children ({len(points)})")
            fx, fy = zip(*best)
            ax.step([x / axis.scale for x in fx], fy, where="post", color="#d62728",
                    linewidth=1)
            ax.scatter([x / axis.scale for x in fx], fy, s=28, color="#d62728",
                       label=f"Pareto front ({len(best)})", zorder=3)
        if axis.target is not None:
            t = axis.target / axis.scale
            ax.axvline(t, color="#1f77b4", linestyle="--", linewidth=1,
                       label=f"target ({t:,.4g})")
            ax.axvspan(t * (1 - TARGET_BAND), t * (1 + TARGET_BAND), color="#1f77b4",
                       alpha=0.08, label=f"target +-{TARGET_BAND:.0%}")
        ax.set_xlabel(f"{axis.label} of {axis.network}" if axis.network else axis.label)
        ax.set_ylabel("accuracy")
        ax.set_title(f"{title}: accuracy vs. cost")
        ax.grid(alpha=0.3)
        if points or axis.target is not None:
            ax.legend(loc="lower right", fontsize=8)
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    io_utils.atomic_write_bytes(path, buf.getvalue())
    return path


def write(out_dir: str, trials: Sequence[Trial], axis: Axis,
          describe_cell: Callable[[Cell], str], title: str = "search") -> dict[str, str]:
    """Writes ``pareto.png`` and ``pareto.md`` into ``out_dir``; returns their paths."""
    paths = {"pareto_plot": plot(trials, os.path.join(out_dir, PLOT_FILE), axis, title),
             "pareto_table": os.path.join(out_dir, TABLE_FILE)}
    heading = f"# {title}: Pareto front, accuracy vs. {axis.label}"
    if axis.network:
        heading += f" of {axis.network}"
    io_utils.atomic_write_text(paths["pareto_table"],
                               heading + "\n\n" + table(trials, axis, describe_cell))
    return paths
