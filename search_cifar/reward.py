"""Rewards that know the cost of a cell: MnasNet's accuracy x (cost / target)^w.

MnasNet (Tan et al. 2019, "MnasNet: Platform-Aware Neural Architecture Search
for Mobile", CVPR, Eq. 2) rewards a model m with

    ACC(m) x [LAT(m) / T]^w,   w = alpha if LAT(m) <= T else beta,

with ``alpha = beta = -0.07`` as a soft constraint (doubling the cost must buy
about 5 % more accuracy for the same reward; their default) and ``alpha = 0,
beta = -1`` as a hard one (no reward for being cheaper than T, a steep
penalty above it). Here the cost is either the mult-adds of the network the
cell will become (``nasnet.cost``: NASNet-A Mobile's 4 @ 1056 at 224 px by
default, counted in closed form) or its latency measured on the worker
(``nasnet.latency``); ``RewardConfig`` says which, at which target and with
which exponents (``kind``: ``accuracy`` (no cost term), ``soft``, ``hard`` or
``weighted`` with your own ``alpha`` and ``beta``).

* ``CostAwareEvaluator`` wraps any evaluator of genotypes: it counts the
  cost (cached by fingerprint in each process), runs the inner evaluator and
  returns one scalar reward, so strategies are unchanged. The record keeps
  the parts apart: ``metrics["accuracy"]`` is the inner evaluator's reward
  (validation accuracy for child training) and ``metrics["cost"]`` holds
  ``mult_adds``, the target ``network`` it was counted for, its base
  ``filters`` and, when measured, ``latency_ms``, ``latency_runs`` and
  ``latency_device``. Mult-adds are recorded for every reward kind (they cost
  microseconds), so even an unconstrained search has a Pareto front and can
  be re-ranked under a target afterwards.
* ``rerank(trials, config)`` recomputes every reward from the records under
  other settings, without training: ``search --report_only
  --config_override=reward.target_mult_adds=400e6`` rewrites the report in
  the new ranking. Mult-adds for another target network are counted again
  from the recorded genotype; a latency cannot be measured afresh there.

This module imports no TensorFlow (a synthetic search's Ray workers unpickle
the evaluator); naming a network preset (``RewardConfig.network``) and
measuring latency do.

Example:
    >>> config = RewardConfig(kind="soft", target_mult_adds=600e6)
    >>> config.reward(accuracy=0.75, cost=1.2e9)          # twice the target
    0.7144...
    >>> evaluator = CostAwareEvaluator(inner, config, config.target_network())
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

from nasnet import cost as cost_lib
from nasnet import latency as latency_lib
from nasnet.genotype import Genotype
from search_cifar.evaluator import REWARD_FACTOR, Evaluator, Report, Result
from search_cifar.trial_store import Trial

KINDS = ("accuracy", "soft", "hard", "weighted")
COSTS = ("mult_adds", "latency")
#: MnasNet's exponents (alpha under the target, beta over it), Tan et al. 2019, Sec. 3.
EXPONENTS = {"accuracy": (0.0, 0.0), "soft": (-0.07, -0.07), "hard": (0.0, -1.0)}
#: The record's keys (``Trial.metrics``).
ACCURACY, COST = "accuracy", "cost"
#: The "mobile setting" of Zoph et al. 2018 (Sec. 4.2): under 600M mult-adds.
MOBILE_MULT_ADDS = 600e6


def _number(name: str, value: Any, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (value <= 0 if positive else value > 0):
        raise ValueError(f"{name} must be a number {'> 0' if positive else '<= 0'}, "
                         f"got {value!r}")


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    """How a child's accuracy and cost become its reward (see the module docstring).

    Attributes:
        kind: ``accuracy`` (the inner reward as is), ``soft``, ``hard`` or
            ``weighted`` (MnasNet's form with ``alpha`` and ``beta``).
        alpha, beta: the exponents of ``weighted`` (<= 0): alpha at or under
            the target, beta over it.
        cost: ``mult_adds`` or ``latency`` (milliseconds, measured on the worker).
        target_mult_adds: T for ``mult_adds`` (600e6: the mobile setting).
        target_latency_ms: T for ``latency``.
        network: the ``nasnet.networks.PRESETS`` name whose stem, multipliers
            and classes the target network has (``mobile``: NASNet-A Mobile).
        network_size: ``"N@P"`` or ``"N@F<filters>"`` (None: the preset's).
        image_size: the target network's input size (None: the preset's).
        latency_device: ``cpu`` or ``gpu``, where latency is measured.
        latency_runs: timed forward passes; their median is the latency.
    """

    kind: str = "accuracy"
    alpha: float | None = None
    beta: float | None = None
    cost: str = "mult_adds"
    target_mult_adds: float = MOBILE_MULT_ADDS
    target_latency_ms: float | None = None
    network: str = "mobile"
    network_size: str | None = None
    image_size: int | None = None
    latency_device: str = "cpu"
    latency_runs: int = 20

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown reward kind {self.kind!r}; known: {list(KINDS)}")
        if self.kind == "weighted":
            for name in ("alpha", "beta"):
                if getattr(self, name) is None:
                    raise ValueError(f"reward kind 'weighted' needs reward.{name} (<= 0)")
                _number(f"reward.{name}", getattr(self, name), positive=False)
        else:
            for name in ("alpha", "beta"):
                if getattr(self, name) is not None:
                    raise ValueError(f"reward.{name} applies to kind 'weighted' only; kind "
                                     f"{self.kind!r} has alpha, beta = {EXPONENTS[self.kind]}")
        if self.cost not in COSTS:
            raise ValueError(f"unknown cost kind {self.cost!r}; known: {list(COSTS)}")
        _number("reward.target_mult_adds", self.target_mult_adds, positive=True)
        if self.target_latency_ms is not None:
            _number("reward.target_latency_ms", self.target_latency_ms, positive=True)
        elif self.cost == "latency" and self.kind != "accuracy":
            raise ValueError(f"a {self.kind!r} reward on latency needs "
                             f"reward.target_latency_ms (milliseconds > 0)")
        if self.latency_device not in latency_lib.DEVICES:
            raise ValueError(f"unknown reward.latency_device {self.latency_device!r}; "
                             f"known: {list(latency_lib.DEVICES)}")
        if isinstance(self.latency_runs, bool) or not isinstance(self.latency_runs, int) \
                or self.latency_runs < 1:
            raise ValueError(f"reward.latency_runs must be an int >= 1, "
                             f"got {self.latency_runs!r}")
        self.target_network()  # the preset, the size and the image size

    @property
    def exponents(self) -> tuple[float, float]:
        """``(alpha, beta)``: the exponent at or under the target, and over it."""
        if self.kind == "weighted":
            return float(self.alpha), float(self.beta)
        return EXPONENTS[self.kind]

    @property
    def target(self) -> float:
        """T in the cost's unit (mult-adds, or milliseconds; latency without a target: nan)."""
        if self.cost == "mult_adds":
            return float(self.target_mult_adds)
        return math.nan if self.target_latency_ms is None else float(self.target_latency_ms)

    def reward(self, accuracy: float, cost: float) -> float:
        """MnasNet's ``accuracy x (cost / target)^w`` (w = alpha at or under the target)."""
        if self.kind == "accuracy":
            return float(accuracy)
        return float(accuracy) * self.factor(cost)

    def factor(self, cost: float) -> float:
        """``(cost / target)^w``: what the accuracy is multiplied by (1 for ``accuracy``)."""
        if self.kind == "accuracy":
            return 1.0
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) \
                or not math.isfinite(cost) or cost <= 0:
            raise ValueError(f"a cost must be a number > 0, got {cost!r}")
        alpha, beta = self.exponents
        ratio = cost / self.target
        return ratio ** (alpha if ratio <= 1.0 else beta)

    def target_network(self) -> cost_lib.TargetNetwork:
        """The network whose cost is counted: the preset, resized. Imports TensorFlow
        (``nasnet.networks``)."""
        from nasnet import networks  # noqa: PLC0415

        if self.network not in networks.PRESETS:
            raise ValueError(f"unknown reward.network {self.network!r}; known: "
                             f"{sorted(networks.PRESETS)}")
        target = cost_lib.TargetNetwork.from_classifier_config(networks.PRESETS[self.network])
        changes: dict[str, Any] = {}
        if self.network_size is not None:
            changes.update(cost_lib.parse_target_size(self.network_size))
        if self.image_size is not None:
            changes["image_size"] = self.image_size
        try:
            return dataclasses.replace(target, **changes)
        except ValueError as e:
            raise ValueError(f"bad reward target network: {e}") from None

    def describe(self, target: cost_lib.TargetNetwork | None = None) -> str:
        """One line: the reward, its cost and target, e.g. for a report's summary."""
        if self.kind == "accuracy":
            return "accuracy (no cost term)"
        alpha, beta = self.exponents
        unit = (f"{self.target_mult_adds / 1e6:g}M mult-adds" if self.cost == "mult_adds"
                else f"{self.target_latency_ms:g} ms on {self.latency_device}")
        network = (target or self.target_network()).describe()
        return (f"{self.kind} MnasNet reward: accuracy x (cost / T)^w, w = {alpha:g} at or "
                f"under T, {beta:g} over it; T = {unit} of {network}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- the cost of one genotype ---------------------------------------------------
_LATENCY_CACHE: dict[tuple[str, cost_lib.TargetNetwork, str, int], dict[str, Any]] = {}


def measure_cost(genotype: Genotype, config: RewardConfig,
                 target: cost_lib.TargetNetwork) -> dict[str, Any]:
    """The ``metrics["cost"]`` record of ``genotype``: mult-adds always, latency when
    ``config.cost == "latency"`` (measured here, cached by fingerprint in this process)."""
    record: dict[str, Any] = {"mult_adds": cost_lib.cached_mult_adds(genotype, target),
                              "network": target.describe(),
                              "filters": target.filters_for(genotype)}
    if config.cost == "latency":
        key = (genotype.fingerprint(), target, config.latency_device, config.latency_runs)
        if key not in _LATENCY_CACHE:
            measured = latency_lib.measure(genotype, target, config.latency_device,
                                           runs=config.latency_runs)
            _LATENCY_CACHE[key] = {"latency_ms": measured.median_ms,
                                   "latency_runs": measured.runs,
                                   "latency_device": measured.device}
        record.update(_LATENCY_CACHE[key])
    return record


def cost_value(config: RewardConfig, record: Mapping[str, Any]) -> float:
    """The number the reward divides by its target: mult-adds or latency in ms."""
    return record["mult_adds"] if config.cost == "mult_adds" else record["latency_ms"]


class FactorReport:
    """A child's ``report`` hook that adds the reward's cost factor to every epoch's
    metrics (``evaluator.REWARD_FACTOR``), for early stopping to compare rewards."""

    def __init__(self, report: Report, factor: float):
        self.report, self.factor = report, float(factor)

    def __call__(self, epoch: int, metrics: dict[str, Any]) -> Any:
        return self.report(epoch, dict(metrics, **{REWARD_FACTOR: self.factor}))


class CostAwareEvaluator:
    """An evaluator of genotypes whose reward knows the cost (see the module docstring).

    Args:
        inner: the evaluator whose reward is the accuracy (picklable for Ray).
        config: the reward.
        target: ``config.target_network()``, resolved where the config was made
            (so that workers need not import TensorFlow for it).
    """

    def __init__(self, inner: Evaluator, config: RewardConfig,
                 target: cost_lib.TargetNetwork):
        if not callable(getattr(inner, "evaluate", None)):
            raise ValueError(f"inner must be an evaluator (evaluate(point, report=None)), "
                             f"got {inner!r}")
        if not isinstance(config, RewardConfig):
            raise ValueError(f"config must be a RewardConfig, got {config!r}")
        if not isinstance(target, cost_lib.TargetNetwork):
            raise ValueError(f"target must be a nasnet.cost.TargetNetwork, got {target!r}")
        self.inner, self.config, self.target = inner, config, target

    def evaluate(self, point: Any, report: Report | None = None, **kwargs: Any) -> Result:
        """The inner Result with the cost attached and the reward combined; the cost is
        counted first, so a failed child still records it. ``kwargs`` go to the inner
        evaluator (e.g. an epoch budget). Under early stopping, every epoch the child
        reports carries the reward's cost factor (``evaluator.REWARD_FACTOR``), so that
        a rung compares rewards: a cheap child is not stopped for an accuracy its
        reward would forgive."""
        cost = measure_cost(self._genotype(point), self.config, self.target)
        if report is not None and self.config.kind != "accuracy":
            report = FactorReport(report, self.config.factor(cost_value(self.config, cost)))
        return self._combine(self.inner.evaluate(point, report, **kwargs), cost)

    def recover(self, point: Any, result: Result) -> Result:
        """A Result the driver rebuilt from a rung record (a child stopped at a rung
        before a kill; its reward is the accuracy-based one), finished as ``evaluate``
        would have: the cost attached and the reward combined. A latency is measured
        here, in the driver's process."""
        return self._combine(result, measure_cost(self._genotype(point), self.config,
                                                  self.target))

    @staticmethod
    def _genotype(point: Any) -> Genotype:
        if not isinstance(point, Genotype):
            raise ValueError(f"a cost-aware reward needs a genotype to count, got {point!r} "
                             f"(a space that does not decode?)")
        return point

    def _combine(self, result: Result, cost: dict[str, Any]) -> Result:
        clash = sorted({ACCURACY, COST} & set(result.metrics))
        if clash:
            raise ValueError(f"the inner evaluator's metrics already have {clash}, which the "
                             f"cost-aware reward records")
        metrics = dict(result.metrics, **{COST: cost})
        if not result.ok:
            return Result.failure(result.error, metrics)
        metrics[ACCURACY] = result.reward
        return Result(reward=self.config.reward(result.reward, cost_value(self.config, cost)),
                      metrics=metrics)


# -- re-ranking finished searches -----------------------------------------------
def accuracy_of(trial: Trial) -> float | None:
    """A record's accuracy: ``metrics["accuracy"]``; for a record written before costs
    were recorded (no ``metrics["cost"]``), its reward. None for failures and duplicates."""
    if trial.status != "ok":
        return None
    metrics = trial.metrics or {}
    if ACCURACY in metrics:
        return float(metrics[ACCURACY])
    return None if COST in metrics else float(trial.reward)


def rerank(trials: Sequence[Trial], config: RewardConfig,
           target: cost_lib.TargetNetwork | None = None) -> list[Trial]:
    """``trials`` with every reward recomputed under ``config`` from the recorded accuracy
    and cost; duplicates take their original's new reward. A record without the cost of
    ``target`` gets its mult-adds counted from its genotype; ValueError naming the trial
    when the reward needs a latency the record does not have."""
    target = target or config.target_network()
    network = target.describe()
    out: dict[int, Trial] = {}
    for t in sorted(trials, key=lambda t: t.id):
        accuracy = accuracy_of(t)
        if accuracy is None:
            out[t.id] = t
            continue
        metrics = dict(t.metrics or {})
        cost = dict(metrics.get(COST) or {})
        if cost.get("network") != network:
            if t.genotype is None:
                raise ValueError(f"trial {t.id} has no genotype to count the cost of")
            genotype = Genotype.from_dict(t.genotype)
            cost = {"mult_adds": cost_lib.cached_mult_adds(genotype, target),
                    "network": network, "filters": target.filters_for(genotype)}
        if config.cost == "latency" and config.kind != "accuracy" and "latency_ms" not in cost:
            raise ValueError(
                f"trial {t.id} has no latency measured for {network}: latency is measured "
                f"while a search runs, so it cannot rank this search by latency")
        metrics.update({ACCURACY: accuracy, COST: cost})
        reward = config.reward(accuracy, cost_value(config, cost)) \
            if config.kind != "accuracy" else accuracy
        out[t.id] = dataclasses.replace(t, reward=reward, metrics=metrics)
    for t in list(out.values()):
        if t.status == "duplicate" and t.duplicate_of in out:
            out[t.id] = dataclasses.replace(t, reward=out[t.duplicate_of].reward)
    return [out[i] for i in sorted(out)]
