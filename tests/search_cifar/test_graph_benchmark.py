"""NAS-Bench-Graph as an objective: the package's own table and canonical hash, read safely.

The expected values come from the package itself (its ``Arch``, its loader),
not from this module, so a wrong decoding of the choices, a wrong column or a
wrong canonicalisation fails here.
"""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest

import nas_bench_graph
from search_cifar import graph_benchmark, objectives, scheduler
from search_cifar.graph_benchmark import NasBenchGraphObjective, NasBenchGraphSpace
from search_cifar.strategies import base


@pytest.fixture(scope="module")
def cora():
    return NasBenchGraphObjective("cora")


def _arch(choices):
    return nas_bench_graph.Arch(list(nas_bench_graph.link_list[choices[0]]),
                                [nas_bench_graph.gnn_list[o] for o in choices[1:]])


def test_the_space_is_the_package_s_links_and_ops_and_its_key_is_canonical():
    space = NasBenchGraphSpace()
    assert space.num_choices == (9, 9, 9, 9, 9)
    assert space.signature() == {"kind": "nas_bench_graph", "num_choices": [9] * 5}
    # link [0, 0, 0, 0]: four nodes on the input; their order does not matter.
    gat, gcn, gin, sage = (nas_bench_graph.gnn_list.index(n) for n in ("gat", "gcn", "gin", "sage"))
    assert space.key((0, gat, gcn, gin, sage)) == space.key((0, sage, gin, gcn, gat))
    assert space.key((0, gat, gcn, gin, sage)) != space.key((0, gat, gcn, gin, gin))
    assert space.describe((0, gat, gcn, gin, sage)) == "link [0, 0, 0, 0], ops [gat, gcn, gin, sage]"
    for choices in [(8, 1, 2, 3, 4), (3, 8, 0, 8, 5), (5, 2, 2, 7, 8)]:
        assert space.canonical_id(choices) == _arch(choices).valid_hash()
    with pytest.raises(ValueError, match="choice 1 is 9, out of range"):
        space.key((0, 9, 0, 0, 0))


def test_distinct_keys_are_the_table_s_architectures_plus_the_all_skip_network(cora):
    space = cora.space
    keys = {space.key(c) for c in itertools.product(range(9), repeat=5)}
    assert len(keys) == cora.num_architectures + 1 == 26_207


def test_reward_is_the_validation_accuracy_and_true_value_the_test_accuracy(cora):
    table = nas_bench_graph.light_read("cora")
    for choices in [(8, 1, 2, 3, 4), (0, 0, 0, 0, 0), (6, 7, 8, 2, 5)]:
        entry = table[_arch(choices).valid_hash()]
        assert cora.evaluate(choices).reward == pytest.approx(float(entry["valid_perf"]))
        assert cora.true_value(choices) == pytest.approx(float(entry["perf"]))
    perf = np.sort([float(e["perf"]) for e in table.values()])
    choices, best = cora.optimum()
    assert best == pytest.approx(perf[-1]) == pytest.approx(cora.true_value(choices))
    assert cora.top_threshold(0.001) == pytest.approx(perf[-27])  # ceil(26.206)
    assert cora.top_threshold(1.0) == pytest.approx(perf[0])
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\], got 0"):
        cora.top_threshold(0)


def test_the_all_skip_network_is_a_failed_trial(cora):
    skip = nas_bench_graph.gnn_list.index("skip")
    result = cora.evaluate((4, skip, skip, skip, skip))
    assert result.reward is None and "not in NAS-Bench-Graph" in result.error
    with pytest.raises(ValueError, match=r"link \[0, 0, 1, 3\], ops \[skip, skip, skip, skip\]"):
        cora.true_value((4, skip, skip, skip, skip))


class _Fixed(base.Strategy):
    """Proposes a fixed list of points (the test's strategy)."""

    name = "fixed"

    def __init__(self, space, points):
        super().__init__(space)
        self._points = list(points)

    def _propose(self):
        return self._points[self._next_id]

    def _observe(self, proposal, reward):
        pass

    def _get_algorithm_state(self):
        return {}

    def _set_algorithm_state(self, state):
        pass


def test_a_budget_counts_distinct_architectures(cora):
    gat, gcn, gin, sage = (nas_bench_graph.gnn_list.index(n) for n in ("gat", "gcn", "gin", "sage"))
    points = [(0, gat, gcn, gin, sage), (0, sage, gin, gcn, gat), (0, gin, gat, sage, gcn),
              (8, gat, gcn, gin, sage), (0, gat, gat, gat, gat)]
    result = scheduler.run_in_process(_Fixed(cora.space, points), cora, budget=3)
    assert [t.status for t in result.trials] == ["ok", "duplicate", "duplicate", "ok", "ok"]
    assert result.num_evaluated == 3
    assert result.trials[1].reward == result.trials[0].reward
    curve = objectives.incumbent_curve(result.trials, cora, 3)
    values = [cora.true_value(points[i]) for i in (0, 3, 4)]
    rewards = [cora.reward(points[i]) for i in (0, 3, 4)]
    best = [values[int(np.argmax(rewards[:n]))] for n in (1, 2, 3)]
    np.testing.assert_allclose(curve["value"], best)
    np.testing.assert_allclose(curve["regret"], cora.optimum()[1] - np.array(best))


def test_objectives_make_builds_every_dataset_and_the_seed_changes_nothing():
    names = [n for n in objectives.OBJECTIVES if n.startswith("nas_bench_graph_")]
    assert sorted(names) == [f"nas_bench_graph_{d}" for d in graph_benchmark.DATASETS]
    assert len(names) == 8
    a = objectives.make("nas_bench_graph_pubmed", seed=0)
    b = objectives.make("nas_bench_graph_pubmed", seed=5)
    assert a.name == "nas_bench_graph_pubmed" and a.optimum() == b.optimum()
    assert a.optimum() != objectives.make("nas_bench_graph_citeseer").optimum()


def test_only_the_package_s_own_pinned_tables_are_read(monkeypatch):
    with pytest.raises(ValueError, match="unknown NAS-Bench-Graph dataset 'proteins'"):
        NasBenchGraphObjective("proteins")
    with pytest.raises(ValueError, match=r"unknown NAS-Bench-Graph dataset '\.\./cora'"):
        graph_benchmark.table_path("../cora")
    # A file that is not the pinned release's is refused before it is unpickled.
    graph_benchmark.load_table.cache_clear()
    monkeypatch.setitem(graph_benchmark.DIGESTS, "cs", "0" * 64)
    monkeypatch.setattr(nas_bench_graph, "light_read",
                        lambda name: pytest.fail("unpickled a file with the wrong digest"))
    with pytest.raises(ValueError, match=r"cs\.bench is not the table of nas-bench-graph 1\.4\.0"):
        graph_benchmark.load_table("cs")
    graph_benchmark.load_table.cache_clear()


def test_a_missing_package_is_a_clear_error(monkeypatch):
    real = importlib.import_module

    def fake(name, *args):
        if name == "nas_bench_graph":
            raise ImportError("No module named 'nas_bench_graph'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ValueError, match=r"need the nas-bench-graph package.*pip install "
                                         r"nas-bench-graph==1\.4\.0"):
        NasBenchGraphSpace()


def test_latency_and_parameters_are_the_table_s_in_ms_and_counts(cora):
    raw = graph_benchmark.load_table("cora")
    choices, _ = cora.optimum()
    entry = raw[cora.space.canonical_id(choices)]
    assert cora.latency_ms(choices) == pytest.approx(entry["latency"] * 1e3)
    assert cora.parameters(choices) == pytest.approx(entry["para"] * 1e6)
    truth = cora.table()
    assert {len(v) for v in truth.values()} == {26_206}  # one row per distinct network
    assert sorted(truth["test"]) == sorted(e["perf"] for e in raw.values())
    assert sorted(truth["latency_ms"]) == pytest.approx(sorted(e["latency"] * 1e3
                                                               for e in raw.values()))
    assert truth["parameters"].min() > 1e5  # counts, not millions
    skip = nas_bench_graph.gnn_list.index("skip")
    for cost in (cora.latency_ms, cora.parameters):
        with pytest.raises(ValueError, match="every node a skip"):
            cost((4, skip, skip, skip, skip))
