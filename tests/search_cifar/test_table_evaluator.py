"""table_evaluator: lookups with the child evaluator's Result shape, histories and early stops."""

from __future__ import annotations

import dataclasses
import math

import pytest

from nasnet.genotype import Block, Cell, Genotype, Op
from search_cifar import scheduler, strategies
from search_cifar.evaluator import Result
from search_cifar.space import NasnetCellSpace
from search_cifar.table_evaluator import TableEvaluator

SMALL = Genotype(
    normal=Cell(blocks=(Block(0, Op.CONV_3X3, 1, Op.IDENTITY),), concat=(2,)),
    reduction=Cell(blocks=(Block(0, Op.MAX_POOL_3X3, 1, Op.AVG_POOL_3X3),), concat=(2,)),
    name="one_block")


def test_table_lookup_numbers_results_and_failures():
    other = dataclasses.replace(SMALL, name="other")
    table = TableEvaluator({SMALL.fingerprint(): 0.75,
                            "x": Result.failure("stored failure")})
    assert table.evaluate(SMALL) == Result(reward=0.75, metrics={})
    assert other.fingerprint() == SMALL.fingerprint()   # names do not change identity
    missing = TableEvaluator({}).evaluate(SMALL)
    assert missing.error == f"no table entry for key {SMALL.fingerprint()!r}"
    assert TableEvaluator({"x": Result.failure("stored")}, key=lambda g: "x").evaluate(SMALL).error == "stored"
    assert TableEvaluator(lambda g: None).evaluate(SMALL).error == "table entry is None"
    assert TableEvaluator(lambda g: math.nan).evaluate(SMALL).error == (
        "table reward is not a finite number: nan")
    raised = TableEvaluator(lambda g: 1 / 0).evaluate(SMALL)
    assert raised.error == "ZeroDivisionError: division by zero"
    bad_keys = TableEvaluator(lambda g: {"reward": 1.0, "acc": 1.0}).evaluate(SMALL)
    assert bad_keys.error.startswith("ValueError: unknown table entry keys ['acc']")
    with pytest.raises(ValueError, match="table must be a mapping or a callable"):
        TableEvaluator(0.5)


def test_table_histories_report_stop_and_truncate():
    history = [{"val_accuracy": a} for a in (0.3, 0.6, 0.9)]
    table = TableEvaluator(lambda g: {"reward": 0.9, "history": history, "metrics": {"params": 5}})
    seen = []
    full = table.evaluate(SMALL, report=lambda e, m: seen.append(e))
    assert full.reward == 0.9 and seen == [1, 2, 3] and full.metrics["params"] == 5
    stopped = table.evaluate(SMALL, report=lambda e, m: e < 2)
    assert stopped.reward == 0.6 and stopped.metrics["stopped_early"]
    assert stopped.metrics["epochs_completed"] == 2
    last = table.evaluate(SMALL, report=lambda e, m: e < 3)   # False after the last epoch
    assert last.reward == 0.9 and not last.metrics["stopped_early"]
    assert table.evaluate(SMALL, epochs=1).reward == 0.3
    assert table.evaluate(SMALL, epochs=1, logdir="ignored").metrics["epochs_completed"] == 1


def test_a_table_is_an_evaluator_of_the_search_driver():
    space = NasnetCellSpace(num_blocks=2, ops=("sep_conv_3x3", "max_pool_3x3", "identity"))
    fail = {"count": 0}

    def score(genotype):
        fail["count"] += 1
        if fail["count"] == 2:
            return None     # a failed trial
        return sum(op == Op.IDENTITY for block in genotype.normal.blocks for op in block.ops) / 4

    table = TableEvaluator(score)
    result = scheduler.run_in_process(strategies.make("random", space, seed=0), table, budget=5)
    statuses = [t.status for t in result.trials if t.status != "duplicate"]
    assert statuses.count("failed") == 1 and statuses.count("ok") == 4
    failed = next(t for t in result.trials if t.status == "failed")
    assert failed.error == "table entry is None"
