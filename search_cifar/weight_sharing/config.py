"""Configs and presets of a weight-sharing (ENAS) search: frozen, validated, strictly overridable.

``WeightSharingConfig`` gathers everything ``loop.run_weight_sharing`` needs:
the supernet (``SupernetConfig``), its training (``SharedTrainingConfig``),
the controller phase (``ControllerConfig``), the derivation of the final cell
(``DeriveConfig``), the data (``search_cifar.data.DataConfig``), the search
space (by default exactly what the supernet holds), the ``tf.distribute``
strategy by ``nasnet.distribute``'s names, and the seed.

Presets (``get(name)``; ``override(config, {"training.epochs": 3})`` changes
any field by dotted key and refuses a misspelt one). Labels as in
``shared/REFERENCE.md``: [code] read in the authors' source
(melodyguan/enas: ``scripts/cifar10_micro_search.sh``, ``src/cifar10/main.py``,
``micro_child.py``, ``image_ops.py``, ``src/utils.py``), [2nd] secondary
source, [ours] chosen here.

``enas_cifar10``, Pham et al. 2018's micro search:

=============================  =========================  ==========================================
supernet blocks per cell       5                          [code] child_num_cells=5
ops                            sep 3x3, sep 5x5, avg 3x3,  [code] child_num_branches=5, the ops of
                               max 3x3, identity          micro_child._enas_cell
cells per stack (N)            2                          [code] child_num_layers=6 = 3 stacks x 2
filters (F)                    20                         [code] child_out_filters=20
stem filters                   3 x F                      [code] micro_child stem_conv
aux head, its loss weight      yes, 0.4                   [code] child_use_aux_heads; _build_train
drop path keep prob            0.6                        [code] child_drop_path_keep_prob=0.60 (see
                                                          note 1)
dense dropout keep prob        0.9                        [code] child_keep_prob=0.90
weight decay                   2e-4 (slim scale)          [code] child_l2_reg=1e-4 x sum(w^2); our
                                                          LayerConfig's loss is wd/2 x sum(w^2)
BN momentum / epsilon          0.9 / 1e-3                 [code] image_ops.batch_norm defaults
batch size                     160                        [code] batch_size=160
epochs                         150                        [code] num_epochs=150
learning rate                  cosine 0.05 -> 0.0005,     [code] child_lr_cosine, lr_max, lr_min,
                               restarts T0=10, Tmul=2     T_0, T_mul (see note 2)
optimizer                      SGD, Nesterov momentum 0.9 [code] utils.get_train_ops "momentum"
gradient clipping              5.0, global norm           [ours] (note 3)
precision / XLA                float32 / off              [code] ENAS trains in float32; see
                                                          note 6 for a GPU's mixed_float16
checkpoints                    at the end of each phase   [ours]: at most one epoch's training or
                               (2 per epoch)              controller phase is redone after a kill
                                                          (the issue allows one epoch); a save costs
                                                          seconds at this size
controller                     rl preset "enas" (LSTM 64, [code] controller_lr, entropy_weight,
                               Adam 0.0035, entropy 1e-4,  tanh_constant, bl_dec (main.py)
                               tanh 1.10, baseline 0.99)
controller steps per epoch     30                         [code] controller_train_steps=30
architectures per step         10                         [code] controller_num_aggregate=10 (note 4)
reward                         accuracy on one validation [code] micro_controller / build_valid_rl
                               minibatch of 160
derivation                     100 candidates scored on   [ours]; the paper samples "several" and
                               10 validation batches      keeps the best [unverified]
data                           CIFAR-10, 45k / 5k split,  [code] read_data holds out 5,000;
                               pad-crop-flip              search_cifar.data's default split
=============================  =========================  ==========================================

Notes. (1) The flag is set in the search script, but ``micro_child.py``
applies drop path only in ``_fixed_layer`` (a fixed architecture), never in
``_enas_layer``: the authors' search trained without it. We apply it as
``nasnet.cell.NasCell`` does, so 0.6 means what it says; set 1.0 to match
their effective setting. (2) ENAS holds the rate constant within an epoch;
``tf_keras``' ``CosineDecayRestarts`` decays per step. (3) ENAS passes
``grad_bound=5.0`` with per-tensor clipping, but ``get_train_ops`` appends
the unclipped gradients, so its runs did not clip; we clip by global norm as
our child training does. (4) ENAS aggregates the gradients of 10 sampled
architectures per controller update (SyncReplicasOptimizer); here a step asks
10 proposals, scores each on its own validation minibatch, then tells the 10
rewards, and the ``rl`` strategy's ``batch_size=10`` makes that one update.
(5) ENAS's ``op_tanh_reduce`` 2.5 (op logits divided by 2.5 more than input
logits) is not applied: the ``rl`` strategy's decisions are untyped (see its
"enas" preset in ``search_cifar/strategies/rl_controller.py``).
(6) ``training.mixed_precision`` (``float32``, ``mixed_float16`` with dynamic
loss scaling, ``mixed_bfloat16``; not ``auto``: the checkpointed optimizer
differs with loss scaling, so a resumed run must name the same policy) and
``training.jit_compile`` (XLA on each replica's step; a resumed run may
switch it) are the usual levers on a GPU or TPU [ours]; the variables stay
float32 and the logits and losses are float32 either way.

Retraining (``retrain``): the ``nasnet_search`` child of
``search_cifar.child_config`` (Zoph et al. 2018's 20-epoch search child, N = 2,
F = 32, its sources there) [ours]: the project's existing child training, so
the retrained cell's accuracy compares with ``nasnet_cifar10``'s rewards.
ENAS's own final training (``cifar10_micro_final.sh``: 15 layers, 36 filters,
630 epochs [code]) is a full training run, ``transfer``'s job, not the search's.

``enas_quickstart``, every value [ours], for digits on 2 CPU cores, sized so
that the whole command (search, derivation, retraining) costs no more
CPU-seconds than the evolution ``quickstart`` (24 children that each trace
their training step once, about 7 CPU-s a child; 178 CPU-s in all when last
measured, README "Weight-sharing search (ENAS)"):

=============================  =====================  ==========================================
data                           digits, 16 px, batch   offline; the quickstart child's data, so
                               32                     the derived cell is retrained as searched
space / supernet ops           3 blocks, the 5        the quickstart's space
                               quickstart ops
supernet N / F                 1 / 8                  the quickstart child's size: one step
                                                      costs about 0.09 CPU-s (measured,
                                                      ``benchmarks/supernet.py``)
aux head                       yes, 0.4               as the child it is retrained as
drop path / dense dropout      off / off              15 short epochs: nothing to regularise
epochs                         15 (42 steps each)     each branch's candidates get about 125
                                                      updates; about 4.8 CPU-s an epoch, the
                                                      first about 51 (the traces). 20 epochs
                                                      cost 28 CPU-s more, which the evolution
                                                      quickstart's cheaper children no longer
                                                      leave room for
learning rate                  cosine 0.05 -> 0.0005, one period that ends with the run, so the
                               one period of 15       derivation scores the supernet at its
                               epochs                 lowest rate (ENAS's 150 epochs also end a
                                                      period)
controller                     rl "enas", Adam 0.01,  150 REINFORCE updates in all; 0.0035 is
                               batch 5                for ENAS's 4,500
controller steps per epoch     10 of 5 architectures  rewards cost about a third of training
reward batch                   50 of the 150          noise about 0.06 per reward; a fresh
                               validation images      shuffle per epoch
derivation                     100 candidates on all  a fixed set for every candidate, in one
                               150 validation images  batch (``data.eval_batch_size``; batch
                               (one batch of 150)     norm uses its statistics): about 5 CPU-s,
                                                      against 11 in batches of 32
retrain                        ``tiny`` child: 3      1 epoch leaves the ranking of cells to
                               epochs                 noise; TINY's own preset (about 12 CPU-s)
checkpoints                    at the end of each     ``checkpoint.py`` traces the write once
                               phase                  (about 4 CPU-s), then a save costs about
                                                      0.03 CPU-s (0.4 eagerly)
=============================  =====================  ==========================================

Measured once on a quiet machine: 148 CPU-s for the whole command
(``search.py --experiment=enas_quickstart``): the search 124 (its first
epoch, with the traces, 51; the derivation 5), the retraining 11, the rest
start-up and the report; ``benchmarks/enas_vs_evolution.py`` measures it
against the evolution quickstart.

Example:
    >>> config = override(get("enas_quickstart"), {"training.epochs": 2})
    >>> config.space().num_blocks
    3
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any, Mapping

from nasnet import config_utils
from nasnet.genotype import Op
from nasnet.layers import LayerConfig
from search_cifar import child_config as child_lib
from search_cifar import data as data_lib
from search_cifar.space import NasnetCellSpace
from search_cifar.weight_sharing.architecture import SupernetOps, check_space

#: The five ops of ENAS's micro search, in ``micro_child._enas_cell``'s order [code].
ENAS_OPS = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
#: ``nasnet.distribute.make_strategy`` names (TPUs are not supported here).
DISTRIBUTE_STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: Fields a resumed run may change: how it runs, not what it computes.
EXECUTION_FIELDS = ("tensorboard", "training.checkpoint_every_steps",
                    "controller.checkpoint_every_steps", "data.data_dir",
                    "retrain.data.data_dir", "retrain.verbose", "retrain.tensorboard_dir",
                    "training.jit_compile")
#: ``training.mixed_precision``: the Keras dtype policies (``nasnet.distribute``'s,
#: without ``auto``, which would let a resumed run change the optimizer's state).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_number(name: str, value: Any, low: float, high: float | None = None,
                  low_open: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low)
    ok = ok and (high is None or value <= high)
    if not ok:
        bounds = f"{'(' if low_open else '['}{low:g}, {'inf)' if high is None else f'{high:g}]'}"
        raise ValueError(f"{name} must be a number in {bounds}, got {value!r}")


def _ops_tuple(name: str, ops: Any) -> tuple[str, ...]:
    if isinstance(ops, str) or not isinstance(ops, (list, tuple)):
        raise ValueError(f"{name} must be a list of op names, got {ops!r}")
    return tuple(Op.parse(op).value for op in ops)


@dataclasses.dataclass(frozen=True)
class SupernetConfig:
    """The shared network: cells of ``num_blocks`` blocks, each branch holding every op of ``ops``."""

    num_blocks: int = 5
    ops: tuple[str, ...] = ENAS_OPS
    num_cells_per_stack: int = 2
    out_filters: int = 20
    stem_multiplier: float = 3.0
    use_aux_head: bool = True
    aux_loss_weight: float = 0.4
    drop_path_keep_prob: float = 0.6
    dense_dropout_keep_prob: float = 0.9
    weight_decay: float = 2e-4
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-3

    def __post_init__(self):
        object.__setattr__(self, "ops", _ops_tuple("supernet.ops", self.ops))
        self.holds()  # validates num_blocks and ops
        _check_int("supernet.num_cells_per_stack", self.num_cells_per_stack, 1)
        _check_int("supernet.out_filters", self.out_filters, 2)
        _check_number("supernet.stem_multiplier", self.stem_multiplier, 0.0, low_open=True)
        if not isinstance(self.use_aux_head, bool):
            raise ValueError(f"supernet.use_aux_head must be true or false, got {self.use_aux_head!r}")
        _check_number("supernet.aux_loss_weight", self.aux_loss_weight, 0.0)
        _check_number("supernet.drop_path_keep_prob", self.drop_path_keep_prob, 0.0, 1.0,
                      low_open=True)
        _check_number("supernet.dense_dropout_keep_prob", self.dense_dropout_keep_prob, 0.0,
                      1.0, low_open=True)
        self.layer_config()  # validates weight decay and BN settings

    def holds(self) -> SupernetOps:
        return SupernetOps(num_blocks=self.num_blocks, ops=self.ops)

    def layer_config(self) -> LayerConfig:
        return LayerConfig(bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon,
                           weight_decay=self.weight_decay)

    @property
    def num_cells(self) -> int:
        """Normal cells (ENAS ``child_num_layers``); two reduction cells come on top."""
        return 3 * self.num_cells_per_stack


@dataclasses.dataclass(frozen=True)
class SharedTrainingConfig:
    """Training of the shared weights: Nesterov SGD, cosine decay with warm restarts.

    ``steps_per_epoch`` None is one pass over the training set (remainder
    dropped). The learning rate restarts after ``restart_period_epochs``
    epochs, then after periods ``restart_multiplier`` times longer each.
    ``checkpoint_every_steps``: a checkpoint within the training phase every
    that many steps (None: only at the phase's end); one is always written at
    the end of each phase. A checkpoint is not free: the supernet has
    thousands of variables and the ``rl`` strategy's state (its LSTM and Adam
    moments, as JSON) is megabytes, so a save costs about 0.5 CPU-s even for
    the quickstart's supernet (measured). ``mixed_precision`` and ``jit_compile``:
    note 6 of the module docstring.
    """

    epochs: int = 150
    steps_per_epoch: int | None = None
    learning_rate_max: float = 0.05
    learning_rate_min: float = 0.0005
    restart_period_epochs: int = 10
    restart_multiplier: float = 2.0
    momentum: float = 0.9
    nesterov: bool = True
    clip_norm: float | None = 5.0
    checkpoint_every_steps: int | None = None
    mixed_precision: str = "float32"
    jit_compile: bool = False

    def __post_init__(self):
        _check_int("training.epochs", self.epochs, 1)
        for name in ("steps_per_epoch", "checkpoint_every_steps"):
            if getattr(self, name) is not None:
                _check_int(f"training.{name}", getattr(self, name), 1)
        _check_number("training.learning_rate_max", self.learning_rate_max, 0.0, low_open=True)
        _check_number("training.learning_rate_min", self.learning_rate_min, 0.0,
                      self.learning_rate_max)
        _check_int("training.restart_period_epochs", self.restart_period_epochs, 1)
        _check_number("training.restart_multiplier", self.restart_multiplier, 1.0)
        _check_number("training.momentum", self.momentum, 0.0, 1.0)
        if self.momentum == 1.0:
            raise ValueError("training.momentum must be < 1, got 1.0")
        if not isinstance(self.nesterov, bool):
            raise ValueError(f"training.nesterov must be true or false, got {self.nesterov!r}")
        if self.clip_norm is not None:
            _check_number("training.clip_norm", self.clip_norm, 0.0, low_open=True)
        if self.mixed_precision not in PRECISIONS:
            raise ValueError(
                f"training.mixed_precision must be one of {', '.join(PRECISIONS)} (name the "
                f"policy: a resumed run must train with the same one), got "
                f"{self.mixed_precision!r}")
        if not isinstance(self.jit_compile, bool):
            raise ValueError(f"training.jit_compile must be true or false, "
                             f"got {self.jit_compile!r}")


@dataclasses.dataclass(frozen=True)
class ControllerConfig:
    """The strategy and its phase: ``steps_per_epoch`` steps of ``architectures_per_step``
    asks, each scored on its own validation minibatch of ``reward_batch_size``, then as many tells.

    ``checkpoint_every_steps``: a checkpoint within the phase every that many
    controller steps (None: only at the phase's end, which is the epoch's end).
    """

    strategy: str = "rl"
    strategy_options: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: {"preset": "enas", "batch_size": 10})
    steps_per_epoch: int = 30
    architectures_per_step: int = 10
    reward_batch_size: int = 160
    checkpoint_every_steps: int | None = None

    def __post_init__(self):
        from search_cifar import strategies  # noqa: PLC0415 -- registers every strategy
        if self.strategy not in strategies.names():
            raise ValueError(f"unknown strategy {self.strategy!r}; known: {strategies.names()}")
        if not isinstance(self.strategy_options, Mapping) or not all(
                isinstance(k, str) for k in self.strategy_options):
            raise ValueError(f"controller.strategy_options must be a dict of option names, "
                             f"got {self.strategy_options!r}")
        object.__setattr__(self, "strategy_options", dict(self.strategy_options))
        _check_int("controller.steps_per_epoch", self.steps_per_epoch, 0)
        _check_int("controller.architectures_per_step", self.architectures_per_step, 1)
        _check_int("controller.reward_batch_size", self.reward_batch_size, 1)
        if self.checkpoint_every_steps is not None:
            _check_int("controller.checkpoint_every_steps", self.checkpoint_every_steps, 1)


@dataclasses.dataclass(frozen=True)
class DeriveConfig:
    """The final cell: ``num_candidates`` samples of the final policy (``strategy.sample``),
    each scored on the first ``validation_batches`` validation batches (None: all of them)."""

    num_candidates: int = 100
    validation_batches: int | None = 10

    def __post_init__(self):
        _check_int("derive.num_candidates", self.num_candidates, 1)
        if self.validation_batches is not None:
            _check_int("derive.validation_batches", self.validation_batches, 1)


@dataclasses.dataclass(frozen=True)
class WeightSharingConfig:
    """A weight-sharing search (see the module docstring).

    ``data.batch_size`` is the batch per replica (``transfer``'s convention):
    the global batch is that times the replicas, and both learning rates of
    ``training`` are scaled by the replicas (the linear scaling rule).
    ``space_num_blocks`` / ``space_ops``: the search space when it is smaller
    than what the supernet holds (None: the supernet's). ``deterministic``
    turns on ``tf.config.experimental.enable_op_determinism`` (slower; for
    bit-exact resumes). ``retrain``: the child training (a
    ``search_cifar.child_config.ChildConfig``, or a preset name of
    ``child_config.PRESETS``) that retrains the derived cell from scratch
    once the search is done; None: no retraining.
    """

    name: str = "custom"
    supernet: SupernetConfig = SupernetConfig()
    training: SharedTrainingConfig = SharedTrainingConfig()
    controller: ControllerConfig = dataclasses.field(default_factory=ControllerConfig)
    derive: DeriveConfig = DeriveConfig()
    data: data_lib.DataConfig = data_lib.DataConfig(dataset="cifar10", batch_size=160)
    space_num_blocks: int | None = None
    space_ops: tuple[str, ...] | None = None
    retrain: child_lib.ChildConfig | None = None
    distribute_strategy: str = "one_device"
    seed: int = 0
    deterministic: bool = False
    tensorboard: bool = True

    def __post_init__(self):
        for name, cls in (("supernet", SupernetConfig), ("training", SharedTrainingConfig),
                          ("controller", ControllerConfig), ("derive", DeriveConfig),
                          ("data", data_lib.DataConfig)):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                value = config_utils.from_dict(cls, value, name)
                object.__setattr__(self, name, value)
            if not isinstance(value, cls):
                raise ValueError(f"{name} must be a {cls.__name__}, got {value!r}")
        if isinstance(self.retrain, str):
            object.__setattr__(self, "retrain", child_lib.preset(self.retrain))
        elif isinstance(self.retrain, Mapping):
            object.__setattr__(self, "retrain", child_lib.ChildConfig.from_dict(self.retrain))
        if self.retrain is not None and not isinstance(self.retrain, child_lib.ChildConfig):
            raise ValueError(f"retrain must be a ChildConfig, a child preset name or None, "
                             f"got {self.retrain!r}")
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"name must be letters, digits, '.', '_' or '-' (it names the "
                             f"derived genotype and its network), got {self.name!r}")
        if self.space_ops is not None:
            object.__setattr__(self, "space_ops", _ops_tuple("space_ops", self.space_ops))
        if self.space_num_blocks is not None:
            _check_int("space_num_blocks", self.space_num_blocks, 1)
        check_space(self.space(), self.supernet.holds())
        if self.distribute_strategy not in DISTRIBUTE_STRATEGIES:
            raise ValueError(f"distribute_strategy must be one of {DISTRIBUTE_STRATEGIES}, "
                             f"got {self.distribute_strategy!r}")
        _check_int("seed", self.seed, 0)
        for name in ("deterministic", "tensorboard"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    def space(self) -> NasnetCellSpace:
        """The search space: the supernet's blocks and ops unless ``space_*`` narrow it."""
        return NasnetCellSpace(
            num_blocks=self.space_num_blocks or self.supernet.num_blocks,
            ops=self.space_ops if self.space_ops is not None else self.supernet.ops)

    def to_dict(self) -> dict[str, Any]:
        return _json(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "WeightSharingConfig":
        return config_utils.from_dict(cls, data, "config")


def _json(value: Any) -> Any:
    """``value`` with tuples as lists (what JSON reads back)."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def override(config: WeightSharingConfig, overrides: Mapping[str, Any]) -> WeightSharingConfig:
    """``config`` with dotted keys replaced (``"training.epochs"``); ValueError for a misspelt key."""
    return config_utils.override(config, overrides)


#: Fields added after weight-sharing searches were first released, with the value a
#: config.json written before them meant: such a work directory still resumes.
ADDED_FIELDS = {"training.mixed_precision": "float32", "training.jit_compile": False}


def identity_diff(saved: Mapping[str, Any], config: WeightSharingConfig) -> list[str]:
    """Dotted keys (outside ``EXECUTION_FIELDS``) where a saved config differs from ``config``
    (a key of ``ADDED_FIELDS`` absent from ``saved`` counts as its old value)."""
    saved = json.loads(json.dumps(dict(saved)))
    for key, value in ADDED_FIELDS.items():
        section, _, name = key.rpartition(".")
        if isinstance(saved.get(section), dict):
            saved[section].setdefault(name, value)
    return config_utils.changed_keys(saved, config.to_dict(), ignore=EXECUTION_FIELDS,
                                     leaves=("strategy_options",))


# -- presets ------------------------------------------------------------------------
ENAS_CIFAR10 = WeightSharingConfig(name="enas_cifar10", retrain=child_lib.NASNET_SEARCH)

#: The quickstart's op set (search_cifar.experiments.QUICKSTART_OPS): ENAS's five ops.
QUICKSTART_OPS = ("sep_conv_3x3", "sep_conv_5x5", "max_pool_3x3", "avg_pool_3x3", "identity")

ENAS_QUICKSTART = WeightSharingConfig(
    name="enas_quickstart",
    supernet=SupernetConfig(num_blocks=3, ops=QUICKSTART_OPS, num_cells_per_stack=1,
                            out_filters=8, drop_path_keep_prob=1.0, dense_dropout_keep_prob=1.0),
    training=SharedTrainingConfig(epochs=15, restart_period_epochs=15),
    controller=ControllerConfig(strategy="rl",
                                strategy_options={"preset": "enas", "batch_size": 5,
                                                  "learning_rate": 0.01},
                                steps_per_epoch=10, architectures_per_step=5,
                                reward_batch_size=50),
    derive=DeriveConfig(num_candidates=100, validation_batches=None),
    data=data_lib.DataConfig(dataset="digits", image_size=16, batch_size=32,
                             eval_batch_size=150),
    retrain=child_lib.TINY)

PRESETS: dict[str, WeightSharingConfig] = {"enas_cifar10": ENAS_CIFAR10,
                                           "enas_quickstart": ENAS_QUICKSTART}


def names() -> list[str]:
    return sorted(PRESETS)


def get(name: str) -> WeightSharingConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown weight-sharing preset {name!r}; known: {names()}")
    return PRESETS[name]
