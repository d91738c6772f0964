"""StepCounter and crossed: steps counted from Keras's batch indices, no device reads."""

import pytest

from nasnet.step_counter import StepCounter, crossed


class _Iterations:
    def __init__(self, value):
        self.value = value
        self.reads = 0

    def numpy(self):
        self.reads += 1
        return self.value


class _Model:
    def __init__(self, step):
        self.optimizer = type("Opt", (), {})()
        self.optimizer.iterations = _Iterations(step)


def test_counts_executions_of_several_steps_across_epochs():
    model = _Model(step=6)                # e.g. restored from a checkpoint at step 6
    counter = StepCounter()
    assert counter.start(model) == 6
    # steps_per_execution = 2, epochs of 4 steps; the resumed epoch starts at batch 2.
    spans = []
    for begin, end in [(2, 3), (0, 1), (2, 3)]:
        counter.batch_begin(begin)
        spans.append(counter.batch_end(end))
    assert spans == [(6, 8), (8, 10), (10, 12)]
    assert model.optimizer.iterations.reads == 1


def test_crossed():
    assert crossed(0, 2, 2) and crossed(3, 4, 2) and not crossed(4, 5, 2)
    assert crossed(8, 10, 3) and not crossed(12, 14, 3) and crossed(14, 16, 3)
    with pytest.raises(ValueError, match="the step interval must be >= 1, got 0"):
        crossed(0, 1, 0)
