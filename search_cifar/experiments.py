"""Search experiments: one frozen ``SearchConfig``, named presets, strict overrides, and a run.

A ``SearchConfig`` says everything a search needs: the strategy (name and
options), the space, the evaluator (a child-training ``ChildConfig`` with its
``DataConfig`` and its network's ``ClassifierConfig``, or a synthetic table),
the budget and how trials execute (in this process, local Ray workers or a
cluster address, CPUs / GPUs per trial). ``get(name)`` returns a named
experiment; ``apply_overrides(config, {"child.epochs": 2, ...})`` changes
fields by dotted key and rejects unknown keys (``strategy_options.X`` sets one
strategy option; the strategy rejects options it does not take; the child
network's fields the data decides, ``child_config.DERIVED_NETWORK_FIELDS``,
are refused).
``run_experiment(config, workdir)`` runs (or resumes) the search and writes its
report; ``search.py`` is the binary around it. Evolution's population and
tournament, when not set, are sized from the budget
(``size_strategy_options``: a population of 100 would make a search of 100
children random search) and config.json names them in
``strategy_options_from_budget``.

The ``reward`` section (``reward.RewardConfig``) makes the reward cost-aware
(MnasNet's soft or hard form on the mult-adds or latency of the network the
cell will become), e.g. ``reward.kind=soft``, ``reward.target_mult_adds=600e6``,
``reward.network_size=4@1056``, ``reward.image_size=224``; every named
experiment ranks by accuracy alone and records the mult-adds of NASNet-A
Mobile's size, so ``write_report`` (and ``search --report_only``) can rank a
finished search under any reward settings (``reward.rerank``).

Named experiments (flags and overrides change any field):

* ``quickstart``: the README's command. Digits (bundled with scikit-learn: no
  data, no network), the ``tiny`` child for 1 epoch (16 px, N = 1, F = 8),
  a 3-block cell over 5 ops, regularized evolution (population 8, tournament
  3), 24 children on 2 local Ray workers: about 4 minutes on 2 idle CPU cores
  (a child takes about 13 s of CPU, most of it TensorFlow tracing); measured
  9m14s on a shared 2-core machine at load average 9. The best child's
  validation accuracy was 0.880 against 0.544 for the mean of the 8 random
  initial proposals.
* ``quickstart_rl``: the same with the RL controller (``rl``, tuned preset).
* ``nasnet_cifar10``: Zoph et al. 2018's search: the 13-op, 5-block space,
  the ``nasnet_search`` child on CIFAR-10 (45k / 5k split), the PPO
  controller (``rl`` preset ``nasnet``) and 20,000 children (the paper's
  count [unverified]), one GPU per trial; point ``--ray_address`` at a
  cluster and ``--workers`` (None: all the cluster holds).
* ``amoebanet_cifar10``: the same space and child with regularized evolution,
  population 100 and tournament 25 (Real et al. 2019 [unverified]).
* ``small_cifar10``: a single-machine CIFAR-10 search: the ``small`` child,
  evolution (20 / 5), 200 children.
* ``synthetic``: no training: rewards from ``objectives.NasnetCellObjective``
  (a seeded table over a 3-block space), ``synthetic.seconds`` of sleep per
  trial; for trying Ray set-ups and for tests.
* ``quickstart_asha``: the quickstart with early stopping: children of 9
  epochs, stopped by asynchronous successive halving at rungs of 1 and 3
  epochs (reduction factor 3; ``early_stopping.py``), 48 children.
* ``synthetic_asha``: the synthetic search with learning curves of 9 epochs
  (``synthetic.epochs``, ``objectives.LearningCurveObjective``) and the same
  early stopping; no training.

Early stopping (``early_stopping``, an ``EarlyStoppingConfig``; off unless
``early_stopping.enabled=true``): the rungs are ``early_stopping.rungs`` when
given (increasing epochs; the last may be the children's epochs, the top
rung), else ``min_epochs x reduction_factor^k`` below the children's epochs.
Children's epochs are ``child.epochs``, or ``synthetic.epochs`` for the
synthetic evaluator; early stopping with one epoch is refused.

Example:
    >>> config = apply_overrides(get("quickstart"), {"budget": 10, "child.epochs": 2,
    ...                          "child.network.backbone.num_conv_filters": 16})
    >>> result = run_experiment(config, "/tmp/quickstart")
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import sys
import tempfile
import time
from typing import Any, Mapping, TextIO

from nasnet import artifacts, config_utils, io_utils, json_types
from nasnet.genotype import ALL_OPS, Op
from search_cifar import child_config as child_lib
from search_cifar import devices, report, scheduler, strategies, synthetic
from search_cifar import pareto
from search_cifar import reward as reward_lib
from search_cifar import early_stopping as early_stopping_lib
from search_cifar.child_evaluator import ChildEvaluator
from search_cifar.evaluator import CachedEvaluator
from search_cifar.executors import InProcessExecutor
from search_cifar.ray_executor import RayExecutor
from search_cifar.space import NasnetCellSpace
from search_cifar.trial_store import TrialStore

EVALUATORS = ("child", "synthetic")
CONFIG_JSON = artifacts.CONFIG_FILE
#: Fields that may differ when a work directory is resumed: how and how long
#: the search runs, not what it measures.
EXECUTION_FIELDS = ("budget", "workers", "ray_address", "cpus_per_trial", "gpus_per_trial",
                    "max_repeats", "top_k", "tensorboard", "child.verbose",
                    "child.tensorboard_dir", "child.data.data_dir")
#: Fields (dotted prefixes) added after work directories were first written: a saved
#: config.json without them holds their defaults (``identity_diff``).


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_number(name: str, value: Any, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a number >= {minimum:g}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class SpaceConfig:
    """A ``NasnetCellSpace``: B blocks per cell, the op set, whether combine is searched."""

    num_blocks: int = 5
    ops: tuple[str, ...] = tuple(op.value for op in ALL_OPS)
    search_combine: bool = False

    def __post_init__(self):
        if isinstance(self.ops, str) or not isinstance(self.ops, (list, tuple)):
            raise ValueError(f"space.ops must be a list of op names, got {self.ops!r}")
        object.__setattr__(self, "ops", tuple(Op.parse(op).value for op in self.ops))
        self.build()  # validates the rest

    def build(self) -> NasnetCellSpace:
        return NasnetCellSpace(num_blocks=self.num_blocks, ops=self.ops,
                               search_combine=self.search_combine)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """The ``synthetic`` evaluator: ``objectives.NasnetCellObjective`` on the search space.

    ``seconds``: sleep per epoch (to stand in for training); ``noise_sd`` and
    ``seed``: the objective's noise and tables; ``epochs``: 1 for a one-shot
    reward, more for learning curves of that many epochs
    (``objectives.LearningCurveObjective``), which early stopping can cut.
    """

    seconds: float = 0.0
    noise_sd: float = 0.02
    seed: int = 0
    epochs: int = 1

    def __post_init__(self):
        _check_number("synthetic.seconds", self.seconds, 0.0)
        _check_number("synthetic.noise_sd", self.noise_sd, 0.0)
        _check_int("synthetic.seed", self.seed, 0)
        _check_int("synthetic.epochs", self.epochs, 1)


@dataclasses.dataclass(frozen=True)
class EarlyStoppingConfig:
    """Early stopping of children by asynchronous successive halving (``early_stopping.py``).

    ``enabled``: off by default. ``rungs``: the epochs at which children are
    stopped or continued, increasing; the last may equal the children's epochs
    (the top rung, where nothing is decided); None: ``min_epochs x
    reduction_factor^k`` below the children's epochs. ``reduction_factor``: about
    1 in ``reduction_factor`` children continue at each rung (an int >= 2).
    """

    enabled: bool = False
    min_epochs: int = 1
    reduction_factor: int = 3
    rungs: tuple[int, ...] | None = None

    def __post_init__(self):
        if not isinstance(self.enabled, bool):
            raise ValueError(f"early_stopping.enabled must be true or false, "
                             f"got {self.enabled!r}")
        _check_int("early_stopping.min_epochs", self.min_epochs, 1)
        _check_int("early_stopping.reduction_factor", self.reduction_factor, 2)
        if self.rungs is not None:
            if isinstance(self.rungs, list):
                object.__setattr__(self, "rungs", tuple(self.rungs))
            # Increasing epochs >= 1 (the children's epochs are checked by SearchConfig).
            early_stopping_lib.check_rungs(self.rungs, None, what="early_stopping.rungs")

    def build(self, max_epochs: int, epochs_name: str = "max_epochs",
              reward_from_history: Any = None) -> early_stopping_lib.EarlyStopping | None:
        """The driver's ``EarlyStopping`` for children of ``max_epochs`` (None when off);
        ValueError naming ``epochs_name`` when they cannot be stopped early."""
        if not self.enabled:
            return None
        if max_epochs < 2:
            raise ValueError(f"early stopping needs children that train for more than one "
                             f"epoch; {epochs_name}={max_epochs}")
        if self.rungs is None:
            rungs = early_stopping_lib.geometric_rungs(self.min_epochs, self.reduction_factor,
                                                       max_epochs)
            if not rungs:
                raise ValueError(f"early_stopping.min_epochs={self.min_epochs} is not below "
                                 f"{epochs_name}={max_epochs}: no rung to stop children at")
        else:
            rungs = self.rungs[:-1] if self.rungs[-1] == max_epochs else self.rungs
            if not rungs:
                raise ValueError(f"early_stopping.rungs {list(self.rungs)} has no rung below "
                                 f"{epochs_name}={max_epochs}: no rung to stop children at")
            early_stopping_lib.check_rungs(rungs, max_epochs, what="early_stopping.rungs",
                                           epochs_name=epochs_name)
        return early_stopping_lib.EarlyStopping(
            rungs=rungs, max_epochs=max_epochs, reduction_factor=self.reduction_factor,
            reward_from_history=reward_from_history)


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Everything a search needs (see the module docstring).

    Attributes:
        name: the experiment's name (titles, genotype names).
        strategy: a name in ``strategies.names()``.
        strategy_options: keyword options of that strategy.
        strategy_options_from_budget: the names of the options in
            ``strategy_options`` that were not set but sized from the budget
            (``size_strategy_options``); config.json records them.
        space: the cell space.
        evaluator: "child" (train children) or "synthetic" (a table, no training).
        child: the child network, its training and its data (``child.data``).
        synthetic: the synthetic evaluator's settings.
        budget: children to evaluate in total, over all resumptions.
        workers: concurrent trials; 0 = in this process, one at a time, with
            Keras progress bars (no Ray); None = as many as the Ray cluster at
            ``ray_address`` holds.
        ray_address: None = an embedded local Ray; else a cluster to join.
        cpus_per_trial, gpus_per_trial: each trial's Ray resource request.
        seed: the strategy's seed.
        max_repeats: consecutive duplicate proposals that end the search.
        top_k: architectures in ``best.json`` and the report table.
        tensorboard: write search-level TensorBoard scalars.
        reward: how accuracy and the cost of the network the cell will become
            make the reward (``reward.RewardConfig``; default: accuracy alone,
            with the mult-adds of NASNet-A Mobile's size recorded).
        early_stopping: stop poor children at rungs (off by default).
    """

    name: str = "custom"
    strategy: str = "evolution"
    strategy_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    strategy_options_from_budget: tuple[str, ...] = ()
    space: SpaceConfig = SpaceConfig()
    evaluator: str = "child"
    child: child_lib.ChildConfig = child_lib.NASNET_SEARCH
    synthetic: SyntheticConfig = SyntheticConfig()
    budget: int = 100
    workers: int | None = 2
    ray_address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    seed: int = 0
    max_repeats: int = 1000
    top_k: int = 10
    tensorboard: bool = True
    reward: reward_lib.RewardConfig = reward_lib.RewardConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()

    def __post_init__(self):
        if isinstance(self.reward, Mapping):
            object.__setattr__(self, "reward",
                               config_utils.from_dict(reward_lib.RewardConfig, self.reward, "reward"))
        # Nested values given as dicts (from JSON) become their dataclasses.
        for name, cls in (("space", SpaceConfig), ("synthetic", SyntheticConfig),
                          ("early_stopping", EarlyStoppingConfig)):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, config_utils.from_dict(cls, value, name))
        if isinstance(self.child, Mapping):
            object.__setattr__(self, "child", child_lib.ChildConfig.from_dict(self.child))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if self.strategy not in strategies.names():
            raise ValueError(f"unknown strategy {self.strategy!r}; known: {strategies.names()}")
        if not isinstance(self.strategy_options, Mapping) or not all(
                isinstance(k, str) for k in self.strategy_options):
            raise ValueError(f"strategy_options must be a dict of option names, "
                             f"got {self.strategy_options!r}")
        object.__setattr__(self, "strategy_options", dict(self.strategy_options))
        sized = self.strategy_options_from_budget
        if isinstance(sized, list):  # from JSON
            sized = tuple(sized)
        if not isinstance(sized, tuple) or any(k not in self.strategy_options for k in sized):
            raise ValueError(f"strategy_options_from_budget must name options of "
                             f"strategy_options {sorted(self.strategy_options)}, got {sized!r}")
        object.__setattr__(self, "strategy_options_from_budget", sized)
        if self.evaluator not in EVALUATORS:
            raise ValueError(f"evaluator must be one of {EVALUATORS}, got {self.evaluator!r}")
        if not isinstance(self.child, child_lib.ChildConfig):
            raise ValueError(f"child must be a ChildConfig, got {self.child!r}")
        _check_int("budget", self.budget, 1)
        if self.workers is None:
            if self.ray_address is None:
                raise ValueError("workers=None (as many as the cluster holds) needs a "
                                 "ray_address; give a number of local workers")
        else:
            _check_int("workers", self.workers, 0)
        if self.ray_address is not None and (not isinstance(self.ray_address, str)
                                             or not self.ray_address.strip()):
            raise ValueError(f"ray_address must be a non-empty string or None, "
                             f"got {self.ray_address!r}")
        if self.ray_address is not None and self.workers == 0:
            raise ValueError(f"workers=0 runs trials in this process, so ray_address "
                             f"{self.ray_address!r} would be ignored; give workers >= 1 or None")
        _check_number("cpus_per_trial", self.cpus_per_trial, 0.0)
        _check_number("gpus_per_trial", self.gpus_per_trial, 0.0)
        if self.cpus_per_trial == 0 and self.gpus_per_trial == 0:
            raise ValueError("cpus_per_trial and gpus_per_trial are both 0: a trial must "
                             "request some CPU or GPU")
        _check_int("seed", self.seed, 0)
        _check_int("max_repeats", self.max_repeats, 1)
        _check_int("top_k", self.top_k, 1)
        if not isinstance(self.tensorboard, bool):
            raise ValueError(f"tensorboard must be true or false, got {self.tensorboard!r}")
        if not isinstance(self.reward, reward_lib.RewardConfig):
            raise ValueError(f"reward must be a RewardConfig, got {self.reward!r}")
        if (self.reward.cost == "latency" and self.reward.latency_device == "gpu"
                and self.workers != 0 and self.gpus_per_trial == 0):
            raise ValueError("reward.latency_device='gpu' measures latency on the trial's GPU, "
                             "but trials request none (gpus_per_trial=0); give them one "
                             "(--gpus_per_trial=1) or measure on 'cpu'")
        if not isinstance(self.early_stopping, EarlyStoppingConfig):
            raise ValueError(f"early_stopping must be an EarlyStoppingConfig, "
                             f"got {self.early_stopping!r}")
        self.build_early_stopping()  # validates the rungs against the children's epochs

    # -- building the pieces ------------------------------------------------------
    def build_space(self) -> NasnetCellSpace:
        return self.space.build()

    def build_early_stopping(self) -> early_stopping_lib.EarlyStopping | None:
        """The driver's early stopping (None when off); the reward of a child stopped at
        a rung is the child evaluator's (``child.reward``, ``child.reward_transform``)."""
        if self.evaluator == "synthetic":
            return self.early_stopping.build(self.synthetic.epochs, "synthetic.epochs")
        return self.early_stopping.build(
            self.child.epochs, "child.epochs", functools.partial(
                _child_reward, reward=self.child.reward, transform=self.child.reward_transform))

    def build_strategy(self, space: NasnetCellSpace | None = None) -> strategies.Strategy:
        """The strategy (ValueError for an option it does not take, or a bad value)."""
        return strategies.make(self.strategy, space or self.build_space(), seed=self.seed,
                               **self.strategy_options)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SearchConfig":
        """Strict: unknown keys and values of the wrong JSON type (booleans are not
        numbers, ``nasnet.json_types``), at any depth, are ValueErrors naming them."""
        if isinstance(data, Mapping):
            json_types.check(cls, data, "config")
        return config_utils.from_dict(cls, data, "config")


def _child_reward(history, reward: str, transform: str) -> float:
    """A child's reward from its per-epoch metrics, as ``ChildEvaluator`` computes it."""
    return child_lib.reward_from_history(history, reward, transform)[1]


# -- named experiments ------------------------------------------------------------
#: The quickstart's op set: the separable convolutions, pools and identity that
#: make up most published cells (NASNet-A, AmoebaNet-A; DARTS' space minus zero).
QUICKSTART_OPS = ("sep_conv_3x3", "sep_conv_5x5", "max_pool_3x3", "avg_pool_3x3", "identity")

QUICKSTART = SearchConfig(
    name="quickstart", strategy="evolution",
    strategy_options={"population_size": 8, "tournament_size": 3},
    space=SpaceConfig(num_blocks=3, ops=QUICKSTART_OPS),
    evaluator="child", child=dataclasses.replace(child_lib.TINY, epochs=1),
    budget=24, workers=2, cpus_per_trial=1.0, seed=0, top_k=5)

NASNET_CIFAR10 = SearchConfig(
    name="nasnet_cifar10", strategy="rl", strategy_options={"preset": "nasnet"},
    space=SpaceConfig(), evaluator="child", child=child_lib.NASNET_SEARCH,
    budget=20_000, workers=1, cpus_per_trial=4.0, gpus_per_trial=1.0, top_k=10)

SYNTHETIC = SearchConfig(
    name="synthetic", strategy="evolution",
    strategy_options={"population_size": 10, "tournament_size": 3},
    space=SpaceConfig(num_blocks=3, ops=QUICKSTART_OPS), evaluator="synthetic",
    synthetic=SyntheticConfig(seconds=0.5), budget=40, workers=2, top_k=5)

EXPERIMENTS: dict[str, SearchConfig] = {
    "quickstart": QUICKSTART,
    # 24 children: the REINFORCE preset, which learns from every result (the default's
    # PPO updates every 10; the README's "Which strategy?" says so for budgets this small).
    "quickstart_rl": dataclasses.replace(QUICKSTART, name="quickstart_rl", strategy="rl",
                                         strategy_options={"preset": "reinforce"}),
    "nasnet_cifar10": NASNET_CIFAR10,
    "amoebanet_cifar10": dataclasses.replace(
        NASNET_CIFAR10, name="amoebanet_cifar10", strategy="evolution",
        strategy_options={"population_size": 100, "tournament_size": 25}),
    "small_cifar10": SearchConfig(
        name="small_cifar10", strategy="evolution",
        strategy_options={"population_size": 20, "tournament_size": 5},
        space=SpaceConfig(), child=child_lib.SMALL, budget=200, workers=2, top_k=10),
    "synthetic": SYNTHETIC,
    # Early stopping (ASHA): 9-epoch children, rungs at 1 and 3 epochs, eta = 3.
    "quickstart_asha": dataclasses.replace(
        QUICKSTART, name="quickstart_asha", child=dataclasses.replace(QUICKSTART.child, epochs=9),
        budget=48, early_stopping=EarlyStoppingConfig(enabled=True, min_epochs=1,
                                                      reduction_factor=3)),
    "synthetic_asha": dataclasses.replace(
        SYNTHETIC, name="synthetic_asha", synthetic=SyntheticConfig(seconds=0.1, epochs=9),
        budget=60, early_stopping=EarlyStoppingConfig(enabled=True, min_epochs=1,
                                                      reduction_factor=3)),
}


def names() -> list[str]:
    return sorted(EXPERIMENTS)


def get(name: str) -> SearchConfig:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {names()}")
    return EXPERIMENTS[name]


# -- overrides ------------------------------------------------------------------
def parse_value(text: str) -> Any:
    """An override's value: JSON (``2``, ``0.5``, ``true``, ``null``, ``["a", "b"]``),
    ``None``, or else the text itself as a string."""
    if text in ("None", "none"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_override(text: str) -> tuple[str, Any]:
    """``"child.epochs=2"`` -> ``("child.epochs", 2)``; ValueError without ``=``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"an override must look like key=value, got {text!r}")
    return key.strip(), parse_value(value.strip())


def apply_overrides(config: SearchConfig, overrides: Mapping[str, Any]) -> SearchConfig:
    """``config`` with dotted keys replaced; ValueError naming an unknown key or bad value."""
    options = dict(config.strategy_options)
    rest: dict[str, Any] = {}
    for key, value in overrides.items():
        derived = key.removeprefix("child.network.")
        if key.startswith("child.network.") and derived in child_lib.DERIVED_NETWORK_FIELDS:
            raise ValueError(f"{key} cannot be overridden: it is set from "
                             f"{child_lib.DERIVED_NETWORK_FIELDS[derived]}")
        if key == "strategy_options":
            if not isinstance(value, Mapping):
                raise ValueError(f"strategy_options must be a JSON object, got {value!r}")
            options = dict(value)
        elif key.startswith("strategy_options."):
            options[key.partition(".")[2]] = value
        else:
            rest[key] = _coerce(config, key, value)
    if options != config.strategy_options:
        rest["strategy_options"] = options
    return config_utils.override(config, rest)


def _coerce(config: Any, key: str, value: Any) -> Any:
    """A string field given a number (``name=123``) keeps the text; lists become tuples."""
    current = config
    for part in key.split("."):
        if not dataclasses.is_dataclass(current) or not hasattr(current, part):
            return value  # config_utils.override names the unknown key
        current = getattr(current, part)
    if isinstance(current, str) and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return json.dumps(value)
    if isinstance(current, tuple) and isinstance(value, list):
        return tuple(value)
    return value


def identity_diff(saved: Mapping[str, Any], config: SearchConfig) -> list[str]:
    """Dotted keys (outside ``EXECUTION_FIELDS``) where a saved config differs from ``config``."""
    return config_utils.changed_keys(dict(saved), config.to_dict(), ignore=EXECUTION_FIELDS,
                                     leaves=("strategy_options",))


# -- running ---------------------------------------------------------------------
def _child_evaluator(config: child_lib.ChildConfig) -> ChildEvaluator:
    """A ChildEvaluator; on Ray workers (not verbose) TensorFlow's Python warnings are
    silenced, e.g. "Gradients do not exist for variables" of a cell input that no block
    reads, which would otherwise be forwarded to the search's terminal for every child."""
    if not config.verbose:
        import logging  # noqa: PLC0415
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return ChildEvaluator(config)


def make_evaluator(config: SearchConfig) -> reward_lib.CostAwareEvaluator:
    """The picklable evaluator of ``config`` (the real one is built where it runs), its
    reward combined with the cost of the network the cell will become (``config.reward``)."""
    if config.evaluator == "synthetic":
        # Plain values only: a worker unpickling it must not import this module (TensorFlow).
        factory = functools.partial(synthetic.SyntheticEvaluator, num_blocks=config.space.num_blocks,
                                    ops=config.space.ops, **dataclasses.asdict(config.synthetic))
        key = json.dumps({"synthetic": dataclasses.asdict(config.synthetic),
                          "space": dataclasses.asdict(config.space)}, sort_keys=True)
    else:
        child = config.child
        if config.workers == 0 and not child.verbose:
            child = dataclasses.replace(child, verbose=True)  # the foreground's progress bar
        factory = functools.partial(_child_evaluator, child)
        key = json.dumps({"child": json.loads(json.dumps(dataclasses.asdict(child)))},
                         sort_keys=True)
    return reward_lib.CostAwareEvaluator(CachedEvaluator(factory, cache_key=key),
                                         config.reward, config.reward.target_network())


def check_data(config: SearchConfig) -> None:
    """Fails at once (before anything is written) when the child's dataset is missing."""
    if config.evaluator != "child":
        return
    from nasnet import datasets  # noqa: PLC0415
    data = config.child.data
    if not data.is_digits:
        # Opening the split is lazy but fails at once, with a how-to-prepare
        # hint, when the dataset is missing (DatasetNotPreparedError).
        datasets.load_tfds(data.dataset, data.train_split, data.data_dir)


def check_latency_device(config: SearchConfig) -> None:
    """Fails at once when the reward measures latency on a GPU that trials run in this
    process without (``workers=0`` on a machine with none); Ray trials without a GPU are
    refused by ``SearchConfig`` itself."""
    reward = config.reward
    if reward.cost == "latency" and reward.latency_device == "gpu" and config.workers == 0 \
            and not devices.machine_has_gpu_devices():
        raise ValueError("reward.latency_device='gpu', but trials run in this process "
                         "(workers=0) on a machine without a GPU; measure on 'cpu'")


def check_workdir(workdir: str) -> None:
    """ValueError unless ``workdir`` is a directory this process can write, or can be made one.

    Tried, not guessed from permission bits: an empty directory is made and
    removed in ``workdir`` (or its nearest existing parent), so a file in the
    way, a read-only or pseudo file system (``/proc``) and a missing
    permission all fail here, before anything is written.
    """
    if os.path.lexists(workdir) and not os.path.isdir(workdir):
        raise ValueError(f"workdir {workdir!r} exists and is not a directory")
    existing = os.path.abspath(workdir)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"workdir {workdir!r} cannot be made: {existing!r} is not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-test-", dir=existing))
    except OSError as e:
        raise ValueError(f"workdir {workdir!r} cannot be written"
                         + (f" ({e.strerror})" if os.path.isdir(workdir)
                            else f" ({existing}: {e.strerror})")) from None


def read_workdir_config(workdir: str) -> dict[str, Any] | None:
    """The saved ``config.json`` of a search workdir as a dict (None when there is none);
    ValueError naming the file when it is unreadable or not a JSON object."""
    path = os.path.join(workdir, CONFIG_JSON)
    if not os.path.lexists(path):
        return None
    saved = io_utils.read_json(path, "search config")
    if not isinstance(saved, dict):
        raise ValueError(f"{path}: not a search config: a JSON {type(saved).__name__}, "
                         f"not an object")
    return saved


def prepare_workdir(config: SearchConfig, workdir: str) -> bool:
    """Checks a workdir against ``config``; True when it resumes a search.

    Raises ValueError when the workdir holds a search with another identity
    (strategy, space, child, data, seed...) or a config.json that cannot be
    read; writes nothing.
    """
    saved = read_workdir_config(workdir)
    if saved is None:
        if os.path.isdir(os.path.join(workdir, artifacts.TRIALS_DIR)):
            raise ValueError(f"workdir {workdir!r} has trials/ but no {CONFIG_JSON}: "
                             f"not a search work directory of this binary")
        return False
    diff = identity_diff(saved, config)
    if diff:
        raise ValueError(
            f"workdir {workdir!r} holds a search with other settings ({', '.join(diff)}); "
            f"resume it with the same experiment and overrides, or use a new --workdir "
            f"(only {', '.join(EXECUTION_FIELDS)} may change on resume)")
    return True


def load_workdir_config(workdir: str) -> SearchConfig:
    """The ``SearchConfig`` saved in a search workdir; ValueError naming the file otherwise."""
    path = os.path.join(workdir, CONFIG_JSON)
    if not os.path.lexists(path):
        raise ValueError(f"{path}: not a search work directory (no {CONFIG_JSON})")
    saved = read_workdir_config(workdir)
    try:
        return SearchConfig.from_dict(saved)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a valid search config: {e}") from None


def make_executor(config: SearchConfig):
    """``workers=0``: this process; else Ray (embedded, or the cluster at ``ray_address``)."""
    if config.workers == 0:
        return InProcessExecutor()
    return RayExecutor(address=config.ray_address, num_workers=config.workers,
                       cpus_per_trial=config.cpus_per_trial,
                       gpus_per_trial=config.gpus_per_trial)


def write_report(config: SearchConfig, workdir: str, trials=None,
                 strategy: strategies.Strategy | None = None) -> dict[str, Any]:
    """``report.write_report`` for this config's workdir (all trial records by default),
    ranked under ``config.reward`` (``reward.rerank``); the random baseline is the
    strategy's ``num_random_proposals``."""
    if trials is None:
        trials = [t for _, t in sorted(TrialStore(workdir).load_trials().items())]
    if strategy is None:
        strategy = config.build_strategy()
    # Ranked under config.reward from the recorded accuracy and cost: --report_only with
    # other reward settings re-ranks a finished search without training.
    target = config.reward.target_network()
    trials = reward_lib.rerank(trials, config.reward, target)
    axis = pareto.Axis(cost=config.reward.cost, network=target.describe(),
                       target=None if math.isnan(config.reward.target) else config.reward.target)
    return report.write_report(workdir, trials, top_k=config.top_k,
                               num_random=strategy.num_random_proposals, title=config.name,
                               pareto_axis=axis, reward=config.reward.describe(target),
                               hparams_space=strategy.space if config.tensorboard else None)


# -- options sized from the budget (issue 14) -------------------------------------
def evolution_sizes(budget: int) -> tuple[int, int]:
    """(P, S) for regularized evolution at ``budget`` children [ours].

    P = clip(round(2 sqrt(budget)), 8, 100), S = max(2, round(P / 4)) (the
    paper's S = P / 4; its P = 100 for 20,000 children is what this gives from
    2,500 children on). Measured with ``benchmarks/search_strategies.py`` (30
    seeds, P in 5, 10, 15, 20, 30, 50 with S = P / 4): at budgets 50 to 200, P
    of 15 to 30 beat both smaller and larger populations on the synthetic
    objectives; 2 sqrt(budget) is 14 at 50 and 28 at 200.
    """
    population = min(100, max(8, round(2.0 * math.sqrt(budget))))
    return population, max(2, round(population / 4))


def size_strategy_options(config: SearchConfig, workdir: str | None = None) -> SearchConfig:
    """``config`` with the strategy options that depend on the budget sized, unless set.

    Evolution's first P proposals are random: with its default P = 100 (Real et
    al. 2019's, for 20,000 models) a search of 100 children never evolves. When
    ``config`` runs evolution and sets no ``population_size``, P and S (unless
    ``tournament_size`` is set; then P is at least S) come from
    ``evolution_sizes(config.budget)`` and ``strategy_options_from_budget``
    names them, so config.json says so. A resumed search (``workdir`` holds a
    config.json that sized them) keeps the sizes it started with, whatever the
    budget is now: the strategy's saved state depends on them.
    """
    if config.strategy != "evolution" or "population_size" in config.strategy_options:
        return config
    saved = read_workdir_config(workdir) if workdir is not None else None
    sized: dict[str, Any] = {}
    if saved is not None and saved.get("strategy") == config.strategy \
            and isinstance(saved.get("strategy_options"), dict):
        if "population_size" not in saved["strategy_options"]:
            return config  # started before options were sized: it keeps the default
        sized = {k: saved["strategy_options"][k]
                 for k in saved.get("strategy_options_from_budget") or ()
                 if k in saved["strategy_options"] and k not in config.strategy_options}
    if "population_size" not in sized:
        population, tournament = evolution_sizes(config.budget)
        chosen = config.strategy_options.get("tournament_size")
        if chosen is None:
            sized = {"population_size": population, "tournament_size": tournament}
        else:
            valid = isinstance(chosen, int) and not isinstance(chosen, bool)
            sized = {"population_size": max(population, chosen) if valid else population}
    return dataclasses.replace(config, strategy_options={**config.strategy_options, **sized},
                               strategy_options_from_budget=tuple(sorted(sized)))


def validate(config: SearchConfig, workdir: str) -> bool:
    """Everything that can be wrong before a search starts; True when it resumes.

    Builds the space and the strategy (unknown options), checks the dataset,
    that the workdir can be written, a resumed workdir's settings, and its
    trial records and strategy state (readable, and consistent with each
    other). Writes nothing; ValueError otherwise.
    """
    config = size_strategy_options(config, workdir)
    space = config.build_space()
    config.build_strategy(space)
    check_data(config)
    check_latency_device(config)
    check_workdir(workdir)
    resumed = prepare_workdir(config, workdir)
    if resumed:
        scheduler.load_saved(config.build_strategy(space), TrialStore(workdir))
    return resumed


def run_experiment(config: SearchConfig, workdir: str, stream: TextIO | None = None,
                   executor: Any = None) -> dict[str, Any]:
    """Runs or resumes the search of ``config`` in ``workdir``, then writes its report.

    Everything is validated (strategy options, the dataset, the workdir, a
    resumed workdir's settings, records and state), and the executor started,
    before the first file is written. ``executor``: one to use instead of
    ``make_executor(config)`` (not closed here).

    Returns:
        ``report.write_report``'s dict (``summary`` and paths) plus ``result``
        (the driver's SearchResult), ``seconds`` (wall time) and ``resumed``.
    """
    stream = stream if stream is not None else sys.stdout
    start = time.monotonic()
    resumed = validate(config, workdir)
    config = size_strategy_options(config, workdir)
    io_utils.remove_stale_temporaries(workdir)  # what a killed earlier run left
    space = config.build_space()
    strategy = config.build_strategy(space)
    own_executor = executor is None
    executor = make_executor(config) if own_executor else executor
    reporter = None
    try:
        # config.json before trials/: a kill between the two leaves a workdir that resumes.
        if not resumed:
            io_utils.atomic_write_json(os.path.join(workdir, CONFIG_JSON), config.to_dict())
        store = TrialStore(workdir)
        store.create()
        reporter = report.Reporter(workdir, config.budget, strategy, top_k=config.top_k,
                                   stream=stream, tensorboard=config.tensorboard)
        print(f"search {config.name!r}: {config.strategy} on {config.budget} children, "
              f"{executor.describe()}; workdir {workdir}"
              + (" (resuming)" if resumed else ""), file=stream)
        if config.strategy_options_from_budget:
            sized = ", ".join(f"{k}={config.strategy_options[k]}"
                              for k in config.strategy_options_from_budget)
            print(f"{config.strategy}: {sized}, sized from the budget "
                  f"(set strategy_options to choose)", file=stream)
        print(devices.describe_run(isinstance(executor, InProcessExecutor),
                                   config.gpus_per_trial), file=stream, flush=True)
        stopping = config.build_early_stopping()
        if stopping is not None:
            print(f"early stopping: children of {stopping.max_epochs} epochs continue or stop "
                  f"at {', '.join(map(str, stopping.rungs))} epoch(s), about 1 in "
                  f"{stopping.reduction_factor} continuing (asynchronous successive halving)",
                  file=stream, flush=True)
        result = scheduler.run(strategy, make_evaluator(config), config.budget, executor,
                               store=store, space=space, max_repeats=config.max_repeats,
                               on_trial=reporter, early_stopping=stopping)
    finally:
        if reporter is not None:
            reporter.close()
        if own_executor:
            executor.close()
    out = write_report(config, workdir, result.trials, strategy)
    out.update(result=result, seconds=time.monotonic() - start, resumed=resumed)
    return out
