"""Search problems with a known optimum, for tests and benchmarks.

Two synthetic landscapes (below) and, through ``OBJECTIVES`` / ``make``, the
real tables of NAS-Bench-Graph (``graph_benchmark.py``: objectives
``nas_bench_graph_<dataset>``, whose true value is a measured test accuracy).

Each objective is an evaluator (``search_cifar/evaluator.py``) over a search
space: ``evaluate(x) -> Result`` whose reward is the noisy ``reward(x)``; it
also has the noise-free ``true_value(x)``, the known ``optimum()`` and
``top_threshold(fraction)``, the true value that the best ``fraction`` of the
space reaches; the regret of an architecture is ``optimum - true_value``. The
synthetic true values are normalised so that the worst point of the space
scores 0 and the best 1 (regret ``1 - true_value``); NAS-Bench-Graph's are
test accuracies.

Noise (synthetic objectives): ``reward(x) = true_value(x) + noise_sd * z`` with ``z ~ N(0, 1)``
drawn from a generator seeded by ``(noise_seed, identity of x)``: evaluating
the same architecture twice gives the same reward (like training with a fixed
seed), and the reward does not depend on the order of evaluation, so a resumed
search sees exactly the rewards of an uninterrupted one.

* ``InteractionObjective``: 6 decisions of 5 choices (15,625 points) on a
  ``CategoricalSpace``. Per-decision effects of decreasing importance plus
  pairwise interactions on a chain of neighbouring decisions and two longer
  pairs, as in the fANOVA analyses of NAS benchmarks (a few decisions and
  pairs explain most of the variance). Optimum and top-0.1% threshold exact,
  by enumeration.
* ``NasnetCellObjective``: a small ``NasnetCellSpace`` (default B = 3 and
  5 ops). Each block of each cell scores op quality (per cell type, with a
  prior that separable convolutions beat pooling beat identity), an op-pair
  interaction (e.g. a conv beside an identity: a residual), input effects per
  block position (reading recent states is better) and a bonus for reading two
  different states. The score is the sum over blocks, so a b-block cell scores
  its first b blocks, the assumption PNAS relies on. The optimum is exact, by
  maximising every block independently; the top-0.1% threshold is estimated
  from ``threshold_samples`` (default 1,000,000) uniform choice tuples.
* ``LearningCurveObjective``: either of the above with learning curves: the
  noisy reward becomes the final validation accuracy of a child trained for
  ``epochs`` epochs, reached along a saturating curve whose speed differs by
  architecture, and reported epoch by epoch through ``report`` (which can stop
  it), so early stopping (``early_stopping.py``) can be measured on many seeds
  without training.

The one-shot objectives have ``max_epochs = None`` (no epochs: early
stopping refuses them); ``LearningCurveObjective.max_epochs`` is its epochs.

Example:
    >>> obj = InteractionObjective(seed=0)
    >>> choices, value = obj.optimum()
    >>> value
    1.0
    >>> obj.evaluate(choices).reward == obj.true_value(choices) + obj.noise_sd * obj.noise(choices)
    True
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
from typing import Any, Callable, Sequence

import numpy as np

from nasnet.genotype import Genotype, Op
from search_cifar import graph_benchmark
from search_cifar.evaluator import Report, Result
from search_cifar.space import CategoricalSpace, NasnetCellSpace


def _noise(seed: int, key: str) -> float:
    """A standard normal draw that depends only on (seed, key)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode("utf-8")).digest()
    return float(np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal())


class InteractionObjective:
    """Main effects plus pairwise interactions over categorical decisions.

    ``f(x) = sum_i a_i[x_i] + sum_(i,j) b_ij[x_i, x_j]``, normalised to [0, 1]
    over the whole space, with ``a_i ~ N(0, importance_i^2)``, importance
    ``1, 0.8, ...`` (x0.8 per decision) and ``b_ij ~ N(0, interaction^2)`` on the
    pairs (i, i+1) and two pairs drawn at random.

    Args:
        num_decisions, num_choices: the space (6 x 5 by default).
        seed: draws the tables and seeds the noise.
        noise_sd: the noise, in units of the normalised range.
        interaction: the scale of the pair tables relative to the first decision.
    """

    name = "interaction_6x5"
    max_epochs = None  # one-shot: no epochs to stop at

    def __init__(self, num_decisions: int = 6, num_choices: int = 5, seed: int = 0,
                 noise_sd: float = 0.02, interaction: float = 0.5):
        if num_decisions < 2 or num_choices < 2:
            raise ValueError(
                f"need >= 2 decisions of >= 2 choices, got {num_decisions} x {num_choices}")
        if num_choices ** num_decisions > 5_000_000:
            raise ValueError(
                f"{num_choices}^{num_decisions} points are too many to enumerate")
        if noise_sd < 0:
            raise ValueError(f"noise_sd must be >= 0, got {noise_sd}")
        self.space = CategoricalSpace((num_choices,) * num_decisions)
        self.seed = seed
        self.noise_sd = float(noise_sd)
        rng = np.random.default_rng([seed, 6_5])
        importance = 0.8 ** np.arange(num_decisions)
        self.main = [rng.normal(0.0, s, num_choices) for s in importance]
        chain = [(i, i + 1) for i in range(num_decisions - 1)]
        others = [(i, j) for i in range(num_decisions) for j in range(i + 2, num_decisions)]
        extra = [others[int(k)] for k in rng.permutation(len(others))[:2]]
        self.pairs = sorted(chain + extra)
        self.pair_tables = {p: rng.normal(0.0, interaction, (num_choices, num_choices))
                            for p in self.pairs}
        # Enumerate: raw[x] for every point, index = mixed radix of the choices.
        grid = np.array(list(itertools.product(range(num_choices), repeat=num_decisions)))
        raw = sum(self.main[i][grid[:, i]] for i in range(num_decisions))
        raw = raw + sum(t[grid[:, i], grid[:, j]] for (i, j), t in self.pair_tables.items())
        self._min, self._max = float(raw.min()), float(raw.max())
        self._values = (raw - self._min) / (self._max - self._min)
        self._grid = grid
        self._radix = num_choices ** np.arange(num_decisions - 1, -1, -1)

    def _index(self, choices: Sequence[int]) -> int:
        return int(np.dot(self.space.validate(choices), self._radix))

    def true_value(self, choices: Sequence[int]) -> float:
        return float(self._values[self._index(choices)])

    def noise(self, choices: Sequence[int]) -> float:
        return _noise(self.seed, self.space.key(choices))

    def reward(self, choices: Sequence[int]) -> float:
        """The noisy reward a search observes."""
        return self.true_value(choices) + self.noise_sd * self.noise(choices)

    def evaluate(self, choices: Sequence[int], report: Report | None = None) -> Result:
        del report  # one-shot: no epochs
        return Result(reward=self.reward(choices))

    def optimum(self) -> tuple[tuple[int, ...], float]:
        i = int(np.argmax(self._values))
        return tuple(int(c) for c in self._grid[i]), float(self._values[i])

    def top_threshold(self, fraction: float = 0.001) -> float:
        """The true value of the ceil(fraction * N)-th best point (exact, by enumeration)."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        k = max(1, math.ceil(fraction * len(self._values)))
        return float(np.sort(self._values)[-k])

    threshold_method = "exact (enumeration)"


#: The ops of the small NASNet objective, with prior qualities.
SMALL_OPS: tuple[Op, ...] = (Op.SEP_CONV_3X3, Op.SEP_CONV_5X5, Op.MAX_POOL_3X3,
                             Op.AVG_POOL_3X3, Op.IDENTITY)
_OP_PRIOR = {Op.SEP_CONV_3X3: 1.0, Op.SEP_CONV_5X5: 0.9, Op.SEP_CONV_7X7: 0.8,
             Op.DIL_CONV_3X3: 0.7, Op.CONV_3X3: 0.6, Op.CONV_1X3_3X1: 0.5,
             Op.CONV_1X7_7X1: 0.5, Op.CONV_1X1: 0.3, Op.MAX_POOL_3X3: 0.4,
             Op.AVG_POOL_3X3: 0.4, Op.MAX_POOL_5X5: 0.3, Op.MAX_POOL_7X7: 0.2,
             Op.IDENTITY: 0.2}
_CONVS = {Op.SEP_CONV_3X3, Op.SEP_CONV_5X5, Op.SEP_CONV_7X7, Op.DIL_CONV_3X3, Op.CONV_3X3,
          Op.CONV_1X3_3X1, Op.CONV_1X7_7X1, Op.CONV_1X1}


class NasnetCellObjective:
    """An additive-over-blocks score on a small NASNet cell space.

    For cell type c and block k reading states (i, j) with ops (p, q)::

        g = quality_c[p] + quality_c[q] + pair_c[p, q]
            + position_k[i] + position_k[j] + distinct * (i != j)

    ``quality`` = prior (sep convs > pools > identity) + N(0, 0.3^2);
    ``pair`` symmetric, N(0, 0.3^2) plus +0.3 for a conv next to an identity;
    ``position_k[s]`` = 0.15 * s / (k + 1) + N(0, 0.1^2) (recent states help);
    ``distinct`` = 0.2. A cell scores the sum over its blocks and a genotype
    the sum over its two cells, normalised so that full (B-block) cells span
    [0, 1]; b-block cells of a progressive search score their b blocks.

    Args:
        num_blocks, ops: the space (B = 3 and ``SMALL_OPS`` by default).
        seed: draws the tables and seeds the noise.
        noise_sd: the noise, in units of the normalised range.
        threshold_samples: uniform samples for ``top_threshold``.
    """

    name = "nasnet_b3_5ops"
    max_epochs = None  # one-shot: no epochs to stop at

    def __init__(self, num_blocks: int = 3, ops: Sequence[Op | str] = SMALL_OPS, seed: int = 0,
                 noise_sd: float = 0.02, threshold_samples: int = 1_000_000):
        if noise_sd < 0:
            raise ValueError(f"noise_sd must be >= 0, got {noise_sd}")
        self.space = NasnetCellSpace(num_blocks=num_blocks, ops=ops)
        self.seed = seed
        self.noise_sd = float(noise_sd)
        self.threshold_samples = threshold_samples
        ops = self.space.ops
        n = len(ops)
        rng = np.random.default_rng([seed, 3_5])
        prior = np.array([_OP_PRIOR[op] for op in ops])
        conv = np.array([op in _CONVS for op in ops])
        ident = np.array([op is Op.IDENTITY for op in ops])
        residual = 0.3 * (np.outer(conv, ident) + np.outer(ident, conv))
        # terms[cell][k]: [k+2, n, k+2, n] table of g over (input_a, op_a, input_b, op_b).
        self._terms: list[list[np.ndarray]] = []
        for _cell in range(2):
            quality = prior + rng.normal(0.0, 0.3, n)
            pair = rng.normal(0.0, 0.3, (n, n))
            pair = (pair + pair.T) / math.sqrt(2) + residual
            tables = []
            for k in range(num_blocks):
                s = np.arange(k + 2)
                position = 0.15 * s / (k + 1) + rng.normal(0.0, 0.1, k + 2)
                g = (quality[None, :, None, None] + quality[None, None, None, :]
                     + pair[None, :, None, :]
                     + position[:, None, None, None] + position[None, None, :, None]
                     + 0.2 * (s[:, None, None, None] != s[None, None, :, None]))
                tables.append(g)
            self._terms.append(tables)
        self._max = sum(float(t.max()) for tables in self._terms for t in tables)
        self._min = sum(float(t.min()) for tables in self._terms for t in tables)

    def _choices(self, x: Genotype | Sequence[int]) -> tuple[int, ...]:
        if isinstance(x, Genotype):
            return self.space.encode(x)
        return self.space.validate(x)

    def _raw(self, choices: tuple[int, ...]) -> float:
        per_cell = self.space.decisions_per_cell_block
        total = 0.0
        for k in range(len(choices) // self.space.decisions_per_block):
            for c in range(2):
                start = k * self.space.decisions_per_block + c * per_cell
                a, p, b, q = choices[start:start + 4]
                total += float(self._terms[c][k][a, p, b, q])
        return total

    def true_value(self, x: Genotype | Sequence[int]) -> float:
        """Normalised score; full cells span [0, 1], smaller cells score their blocks."""
        return (self._raw(self._choices(x)) - self._min) / (self._max - self._min)

    def noise(self, x: Genotype | Sequence[int]) -> float:
        return _noise(self.seed, self.space.key(self._choices(x)))

    def reward(self, x: Genotype | Sequence[int]) -> float:
        """The noisy reward a search observes."""
        return self.true_value(x) + self.noise_sd * self.noise(x)

    def evaluate(self, x: Genotype | Sequence[int], report: Report | None = None) -> Result:
        del report  # one-shot: no epochs
        return Result(reward=self.reward(x))

    def optimum(self) -> tuple[tuple[int, ...], float]:
        """Exact: every (cell, block) term is maximised independently."""
        out: list[int] = []
        for k in range(self.space.num_blocks):
            for c in range(2):
                t = self._terms[c][k]
                out += [int(v) for v in np.unravel_index(int(np.argmax(t)), t.shape)]
        choices = tuple(out)
        return choices, self.true_value(choices)

    def top_threshold(self, fraction: float = 0.001) -> float:
        """The (1 - fraction) quantile of the true value of uniform full choice tuples.

        Estimated from ``threshold_samples`` uniform samples (a fixed seed);
        each (cell, block) term is independent, so sampling the terms suffices.
        """
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        if not hasattr(self, "_samples"):
            rng = np.random.default_rng([self.seed, 999])
            raw = np.zeros(self.threshold_samples)
            for tables in self._terms:
                for t in tables:
                    raw += t.reshape(-1)[rng.integers(t.size, size=self.threshold_samples)]
            self._samples = np.sort((raw - self._min) / (self._max - self._min))
        return float(np.quantile(self._samples, 1.0 - fraction))

    @property
    def threshold_method(self) -> str:
        return f"estimated from {self.threshold_samples:,} uniform samples"


def _uniform(seed: int, key: str) -> float:
    """A uniform draw in [0, 1) that depends only on (seed, key)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode("utf-8")).digest()
    return float(np.random.default_rng(int.from_bytes(digest[:8], "little")).random())


class LearningCurveObjective:
    """``base``'s noisy reward as the final accuracy of a learning curve, epoch by epoch.

    For an architecture x with final value ``f = base.reward(x)`` and a time
    constant ``tau(x) = epochs * t``, ``t`` log-uniform in ``tau_range`` (drawn
    from a generator seeded by ``(seed, identity of x)``)::

        acc(e) = f * (1 - exp(-e / tau)) / (1 - exp(-epochs / tau)) + curve_noise_sd * z_e

    for ``e < epochs``, with ``z_e ~ N(0, 1)`` seeded by ``(seed, x, e)``, and
    ``acc(epochs) = f`` exactly. A saturating exponential, one of the curve
    families of learning-curve extrapolation (Domhan et al. 2015
    [unverified]); our model, not fitted to data. Architectures learn at
    different speeds, so curves cross: a slow learner with the higher final
    value can trail at the first rungs, which is what early stopping risks.
    Deterministic, like the base objective: a resumed search sees the same
    curves.

    ``evaluate(x, report)`` reports ``{"epoch", "val_accuracy"}`` after every
    epoch; False stops the child there, with that epoch's value as the reward
    and ``metrics["stopped_early"]``. ``true_value``, ``optimum``,
    ``top_threshold`` and ``space`` are the base's (final values).

    Args:
        base: the objective whose reward is the final value (default:
            ``NasnetCellObjective(seed=seed)``).
        epochs: the full curve's length (``max_epochs``).
        seed: seeds the speeds and the curve noise.
        tau_range: bounds of t, as fractions of ``epochs``.
        curve_noise_sd: the noise of the values before the last epoch.
    """

    name = "learning_curves"

    def __init__(self, base: Any = None, epochs: int = 9, seed: int = 0,
                 tau_range: tuple[float, float] = (0.1, 0.4), curve_noise_sd: float = 0.01):
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
        low, high = tau_range
        if not 0 < low <= high:
            raise ValueError(f"tau_range must be 0 < low <= high, got {tau_range!r}")
        if curve_noise_sd < 0:
            raise ValueError(f"curve_noise_sd must be >= 0, got {curve_noise_sd}")
        self.base = base if base is not None else NasnetCellObjective(seed=seed)
        self.space = self.base.space
        self.max_epochs = epochs
        self.seed = seed
        self.tau_range = (float(low), float(high))
        self.curve_noise_sd = float(curve_noise_sd)

    def _key(self, x: Any) -> str:
        choices = self.space.encode(x) if isinstance(x, Genotype) else self.space.validate(x)
        return self.space.key(choices)

    def curve(self, x: Any) -> list[float]:
        """The validation accuracy after each epoch 1..epochs (the last is the final value)."""
        key = self._key(x)
        final = self.base.reward(x)
        low, high = self.tau_range
        t = math.exp(math.log(low) + _uniform(self.seed, f"tau:{key}") * math.log(high / low))
        tau = self.max_epochs * t
        scale = 1.0 - math.exp(-self.max_epochs / tau)
        values = [final * (1.0 - math.exp(-e / tau)) / scale
                  + self.curve_noise_sd * _noise(self.seed, f"curve:{key}:{e}")
                  for e in range(1, self.max_epochs)]
        return values + [final]

    def evaluate(self, x: Any, report: Report | None = None) -> Result:
        history, stopped = [], False
        for epoch, value in enumerate(self.curve(x), start=1):
            history.append({"epoch": epoch, "val_accuracy": value})
            if report is not None and report(epoch, dict(history[-1])) is False:
                stopped = epoch < self.max_epochs
                break
        return Result(reward=history[-1]["val_accuracy"],
                      metrics={"history": history, "epochs_completed": len(history),
                               "stopped_early": stopped})

    def true_value(self, x: Any) -> float:
        return self.base.true_value(x)

    def optimum(self) -> tuple[tuple[int, ...], float]:
        return self.base.optimum()

    def top_threshold(self, fraction: float = 0.001) -> float:
        return self.base.top_threshold(fraction)

    @property
    def threshold_method(self) -> str:
        return self.base.threshold_method


#: Objective name -> ``factory(seed=..., **options)``: the synthetic landscapes and a
#: real table per NAS-Bench-Graph dataset (``graph_benchmark.py``; the package is
#: imported when one of them is built).
OBJECTIVES: dict[str, Callable[..., Any]] = {
    InteractionObjective.name: InteractionObjective,
    NasnetCellObjective.name: NasnetCellObjective,
    **{f"nas_bench_graph_{dataset}": functools.partial(
        graph_benchmark.NasBenchGraphObjective, dataset)
       for dataset in graph_benchmark.DATASETS},
}


def make(name: str, seed: int = 0, **options: Any):
    """Builds the objective called ``name`` (see ``OBJECTIVES``)."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; known: {sorted(OBJECTIVES)}")
    return OBJECTIVES[name](seed=seed, **options)


def incumbent_curve(trials: Sequence[Any], objective: Any, max_budget: int,
                    fraction: float = 0.001) -> dict[str, np.ndarray]:
    """Regret and top-``fraction`` hit of the incumbent after each of 1 .. ``max_budget``
    distinct evaluations: ``{"regret": [max_budget], "top": [max_budget], "value": [max_budget]}``.

    ``trials`` are ``trial_store.Trial`` records in order; duplicates (the
    driver's de-duplication, by ``space.key``) do not count. The incumbent after
    n evaluations is the evaluated full-size architecture with the best observed
    (noisy) reward among the first n evaluations, as a search would report it;
    its regret is ``optimum - true_value`` (noise-free) and ``top`` is 1.0 when
    its true value reaches ``top_threshold(fraction)``. Smaller cells of a
    progressive search count against the budget but cannot be the incumbent.
    Before the first successful full-size evaluation the regret is ``optimum``
    (as if the worst point were reported) and top 0; a search that stopped
    before ``max_budget`` (an exhausted space) keeps its last incumbent.
    """
    _, best_value = objective.optimum()
    threshold = objective.top_threshold(fraction)
    full = len(objective.space.num_choices)
    regret = np.full(max_budget, best_value, np.float64)
    top = np.zeros(max_budget, np.float64)
    value = np.zeros(max_budget, np.float64)
    best_reward, incumbent = -math.inf, None
    n = 0
    for t in trials:
        if n >= max_budget:
            break
        if t.status == "duplicate":
            continue
        if t.status == "ok" and len(t.choices) == full and t.reward > best_reward:
            best_reward = t.reward
            v = objective.true_value(t.choices)
            incumbent = (best_value - v, float(v >= threshold), v)
        if incumbent is not None:
            regret[n], top[n], value[n] = incumbent
        n += 1
    if incumbent is not None and n < max_budget:
        regret[n:], top[n:], value[n:] = incumbent
    return {"regret": regret, "top": top, "value": value}


def incumbent_metrics(trials: Sequence[Any], objective: Any, budgets: Sequence[int],
                      fraction: float = 0.001) -> dict[int, dict[str, float]]:
    """``incumbent_curve`` at each budget: ``{budget: {"regret", "top", "value"}}``."""
    curve = incumbent_curve(trials, objective, max(budgets), fraction)
    return {b: {k: float(curve[k][b - 1]) for k in ("regret", "top", "value")} for b in budgets}


#: Strategy options for the quality benchmark and tests where a strategy's
#: defaults do not fit budgets of 50 to 200: evolution's population (the
#: paper's P = 100, S = 25 would still be drawing its random initial
#: population at 100 queries; P = 20, S = 5 keeps the paper's S = P / 4).
#: Every other strategy runs with its defaults.
STRATEGY_OPTIONS: dict[str, dict[str, Any]] = {
    "evolution": {"population_size": 20, "tournament_size": 5},
}


def run_one(strategy: str, objective: Any, seed: int, max_budget: int,
            options: dict[str, Any] | None = None) -> dict[str, Any]:
    """One search of ``strategy`` (seed ``seed``) on ``objective`` to ``max_budget``
    distinct evaluations, in process (``scheduler.run_in_process``).

    Returns ``incumbent_curve``'s arrays plus ``num_evaluated`` and
    ``num_proposed`` (duplicates included). A search cut at a smaller budget
    is the search of that budget: strategies and objectives are deterministic
    and no option here depends on the budget.
    """
    # Here, not at the top: Ray workers import this module (synthetic.py), not the driver.
    from search_cifar import scheduler, strategies  # noqa: PLC0415

    options = STRATEGY_OPTIONS.get(strategy, {}) if options is None else options
    s = strategies.make(strategy, objective.space, seed=seed, **options)
    result = scheduler.run_in_process(s, objective, budget=max_budget)
    curve = incumbent_curve(result.trials, objective, max_budget)
    return {**curve, "num_evaluated": result.num_evaluated, "num_proposed": len(result.trials)}


def run_seeds(strategy: str, objective_name: str, seeds: Sequence[int],
              budgets: Sequence[int] = (50, 100, 200), options: dict[str, Any] | None = None,
              objective_cache: dict | None = None) -> dict[int, dict[str, np.ndarray]]:
    """Runs ``strategy`` once per seed; per budget, arrays over seeds of regret and top hits.

    Seed s builds objective instance s (its tables and noise; the same table
    for every seed of a NAS-Bench-Graph objective) and the strategy with seed
    s, and runs ``run_one`` to the largest budget.
    """
    regret: dict[int, list[float]] = {b: [] for b in budgets}
    top: dict[int, list[float]] = {b: [] for b in budgets}
    for seed in seeds:
        key = (objective_name, seed)
        if objective_cache is not None and key in objective_cache:
            objective = objective_cache[key]
        else:
            objective = make(objective_name, seed=seed)
            if objective_cache is not None:
                objective_cache[key] = objective
        curve = run_one(strategy, objective, seed, max(budgets), options)
        for b in budgets:
            regret[b].append(float(curve["regret"][b - 1]))
            top[b].append(float(curve["top"][b - 1]))
    return {b: {"regret": np.array(regret[b]), "top": np.array(top[b])} for b in budgets}
