"""search_cifar.pareto: the accuracy-cost front, its plot and its table."""

from __future__ import annotations

import pytest

from search_cifar import pareto, report
from search_cifar.space import NasnetCellSpace
from search_cifar.trial_store import Trial

SPACE = NasnetCellSpace(num_blocks=2, ops=("sep_conv_3x3", "max_pool_3x3", "identity"))
AXIS = pareto.Axis(cost="mult_adds", target=600e6, network="4@1056, imagenet stem, 224 px")


def trial(i, accuracy, madds, status="ok", latency=None):
    g = SPACE.decode(tuple((i * 5 + d) % n for d, n in enumerate(SPACE.num_choices)))
    cost = {"mult_adds": madds, "network": AXIS.network}
    if latency is not None:
        cost["latency_ms"] = latency
    ok = status == "ok"
    return Trial(id=i, choices=SPACE.encode(g), key=g.fingerprint(), status=status,
                 reward=accuracy if ok else None, error=None if ok else "boom", evaluation=i,
                 genotype=dict(g.to_dict(), fingerprint=g.fingerprint()),
                 metrics={"accuracy": accuracy, "cost": cost} if ok else {"cost": cost})


TRIALS = [trial(0, 0.70, 500e6, latency=9.0), trial(1, 0.80, 700e6, latency=8.0),
          trial(2, 0.75, 650e6, latency=12.0),
          trial(3, 0.70, 550e6, latency=10.0),   # dominated by 0 (cheaper, as accurate)
          trial(4, 0.90, 2e9, latency=30.0),
          trial(5, 0.60, 400e6, latency=11.0),
          trial(6, 0.99, 100e6, status="failed"),  # failures are not points
          Trial(id=7, choices=(0,) * 16, key="k", status="ok", reward=0.95,
                metrics={"accuracy": 0.95})]        # no cost recorded: not a point


def test_the_front_is_the_non_dominated_children_cheapest_first():
    assert [t.id for t in pareto.front(TRIALS, AXIS)] == [5, 0, 2, 1, 4]
    by_latency = pareto.Axis(cost="latency")
    assert [t.id for t in pareto.front(TRIALS, by_latency)] == [1, 4]
    twin = trial(8, 0.70, 500e6)  # equal to trial 0: neither dominates the other
    assert [t.id for t in pareto.front(TRIALS + [twin], AXIS)] == [5, 0, 8, 2, 1, 4]
    assert pareto.front([], AXIS) == []


def test_summary_near_the_target():
    assert [t.id for t in pareto.near_target(TRIALS, AXIS)] == [2, 3]  # 540M .. 660M
    assert pareto.summary(TRIALS, AXIS) == {
        "pareto_front": [5, 0, 2, 1, 4], "cost_axis": "mult_adds", "cost_target": 600e6,
        "best_accuracy_at_or_under_target": 0.70, "best_accuracy_near_target": 0.75,
        "num_near_target": 2}
    no_target = pareto.summary(TRIALS, pareto.Axis())
    assert no_target["best_accuracy_near_target"] is None and no_target["num_near_target"] == 0


def test_table_and_plot(tmp_path):
    paths = pareto.write(str(tmp_path), TRIALS, AXIS, report.cell_text, title="unit")
    with open(paths["pareto_plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    text = open(paths["pareto_table"]).read()
    assert text.startswith("# unit: Pareto front, accuracy vs. mult-adds (M) of 4@1056")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "trial" not in line]
    assert [int(r.split("|")[1]) for r in rows] == [5, 0, 2, 1, 4]
    assert rows[0].startswith(f"| 5 | 0.6000 | 400.0 | 0.6000 | `{TRIALS[5].key}` | ")
    latency = pareto.table(TRIALS, pareto.Axis(cost="latency"), report.cell_text)
    assert "| latency (ms) |" in latency and "| 1 | 0.8000 | 700.0 | 8.00 | 0.8000 |" in latency
    empty = pareto.write(str(tmp_path), [], pareto.Axis(), report.cell_text)
    assert open(empty["pareto_table"]).read().count("\n| ") == 1  # the header only


def test_an_unknown_cost_axis_is_refused():
    with pytest.raises(ValueError, match="unknown cost axis 'flops'"):
        pareto.Axis(cost="flops")


def test_hypervolume_is_the_area_the_points_dominate_inside_the_box():
    reference = (3.0, 0.0)  # (worst cost, worst accuracy)
    assert pareto.hypervolume([], reference) == 0.0
    assert pareto.hypervolume([(1.0, 0.5)], reference) == pytest.approx(2.0 * 0.5)
    # Two front points: (3 - 1) x 0.5 + (3 - 2) x (0.8 - 0.5).
    front = [(2.0, 0.8), (1.0, 0.5)]
    assert pareto.hypervolume(front, reference) == pytest.approx(1.3)
    # A dominated point, a point costlier than the box and one below it add nothing.
    assert pareto.hypervolume([*front, (2.5, 0.6), (4.0, 0.99), (0.5, -0.1)], reference) \
        == pytest.approx(1.3)
