"""The weight-sharing search loop (ENAS, Pham et al. 2018): a searched cell from one training.

``WeightSharingSearch(config, workdir, retrain=None, stream=sys.stdout)``
checks everything and writes nothing; ``.run()`` runs, resumes or reprints
the search. ``run_weight_sharing(...)`` is both in one call.

1. **Checks, before anything is written** (the constructor): the config
   (validated on construction, the space against the supernet), the
   strategy and its options, the data (a missing dataset, batches that do not
   fit), the retraining recipe's data, and a work directory of another search
   (a different supernet, space, data, strategy, recipe or seed: ValueError
   naming the differing keys; only ``config.EXECUTION_FIELDS`` may change).
2. **Epochs** (``training.epochs``), each in two phases:

   * *shared-weight training*: ``steps_per_epoch`` architectures drawn at the
     phase's start from the strategy's current policy (``strategy.sample``:
     no proposals; ENAS draws one per step from the same unchanged policy),
     one SGD step of the supernet on each, on the epoch's batches;
   * *controller steps* (``controller.steps_per_epoch``): ask
     ``architectures_per_step`` proposals, score each on its own validation
     minibatch with the shared weights (``SupernetEvaluator``), then tell the
     rewards in order. ENAS aggregates 10 architectures per controller update;
     here that is the ``rl`` strategy's ``batch_size`` (the ENAS presets set it
     to ``architectures_per_step``, so each step is one REINFORCE update).
     ``random`` and ``evolution`` run unchanged (random search with weight
     sharing, Li & Talwalkar 2019, is the control).

3. **Derivation** (``derive.py``): the final policy's candidates scored on the
   same validation batches; the best is the searched cell.
4. **Retraining**: the derived cell trained from scratch by the child training
   ``config.retrain`` (``search_cifar.child_evaluator.ChildEvaluator``; or by
   the ``retrain`` evaluator given, anything with ``evaluate(genotype) ->
   Result``); its Result goes to ``retrain.json``. None of both: no retraining.
5. **Report** (``report.py``): ``report/best_genotype.json``
   (``Genotype.save``, read by ``transfer``, ``detection`` and the zoo
   unchanged), the cell pictures, the controller's reward plot, the top-k
   table of the derived candidates and ``summary.json``.

Work directory (names in ``nasnet.artifacts``): ``config.json``,
``checkpoints/`` (``checkpoint.py``), ``derive.json`` (every candidate and its
accuracy), ``retrain.json``, ``report/`` and ``tensorboard/`` (``progress.py``).

**Resume.** A checkpoint is written at the end of each training phase and of
each controller phase (the epoch's end), after the derivation, and within the
phases every ``training.checkpoint_every_steps`` training steps and every
``controller.checkpoint_every_steps`` controller steps when they are set.
SIGKILL at any moment and call again with the same config and work directory:
the supernet's weights, the optimizer, the random generator, the strategy's
state and the data position come back from the last checkpoint, so at most
one phase (or that many steps) is redone, and
the run then continues as the uninterrupted one would (bit for bit on a CPU
with ``deterministic=True``; within floating-point noise otherwise). A kill
during retraining repeats the retraining (child training has no
checkpoints). ``max_epochs`` stops after that many epochs in this call (the
state saved), as a kill at an epoch boundary would.

Example:
    >>> from search_cifar.weight_sharing import config
    >>> summary = run_weight_sharing(config.get("enas_quickstart"), "out/enas_quickstart")
    >>> summary["best"]["accuracy"], summary["retrain"]["reward"]
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, TextIO

import tensorflow as tf
import tf_keras

from nasnet import artifacts, distribute, io_utils
from search_cifar import strategies
from search_cifar.child_evaluator import ChildEvaluator
from search_cifar.weight_sharing import architecture as arch_lib
from search_cifar.weight_sharing import report as report_lib
from search_cifar.weight_sharing.checkpoint import SearchCheckpoint
from search_cifar.weight_sharing.config import WeightSharingConfig, identity_diff
from search_cifar.weight_sharing.derive import Candidate, derive
from search_cifar.weight_sharing.evaluator import SupernetEvaluator
from search_cifar.weight_sharing.pipelines import SearchData
from search_cifar.weight_sharing.progress import Progress, diagnostics
from search_cifar.weight_sharing.supernet import Supernet
from search_cifar.weight_sharing.training import SupernetTrainer

CONFIG_JSON = artifacts.CONFIG_FILE
CHECKPOINTS = artifacts.CHECKPOINT_DIR
DERIVE_JSON = artifacts.DERIVED_CANDIDATES_FILE
RETRAIN_JSON = artifacts.RETRAIN_FILE
TENSORBOARD_DIR = artifacts.TENSORBOARD_DIR
PHASES = ("train", "controller", "derive", "retrain", "done")


def _fresh_state(strategy: strategies.Strategy, replicas: int) -> dict[str, Any]:
    return {"epoch": 0, "phase": "train", "step": 0, "strategy": strategy.get_state(),
            "architectures": [], "running": _fresh_running(), "history": [],
            "controller_steps": 0, "wall_seconds": 0.0, "cpu_seconds": 0.0,
            "replicas": replicas}


def _fresh_running() -> dict[str, Any]:
    return {"loss_sum": 0.0, "correct": 0, "examples": 0, "steps": 0, "rewards": [],
            "step_rewards": [], "wall_seconds": 0.0, "cpu_seconds": 0.0}


def is_workdir(workdir: str) -> bool:
    """Whether ``workdir`` holds a weight-sharing search (its ``config.json`` has a supernet)."""
    try:
        with open(os.path.join(workdir, CONFIG_JSON), encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(saved, dict) and "supernet" in saved


def load_workdir_config(workdir: str) -> WeightSharingConfig:
    """The config saved in ``workdir``; ValueError when there is none or it does not load."""
    path = os.path.join(workdir, CONFIG_JSON)
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except OSError as e:
        raise ValueError(f"{path}: not a search work directory ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    return WeightSharingConfig.from_dict(saved)


def prepare_workdir(config: WeightSharingConfig, workdir: str) -> bool:
    """True when ``workdir`` holds this search already; ValueError for another one. Writes nothing."""
    path = os.path.join(workdir, CONFIG_JSON)
    if not os.path.exists(path):
        if os.path.exists(os.path.join(workdir, CHECKPOINTS)):
            raise ValueError(f"{workdir} has checkpoints but no {CONFIG_JSON}: not a "
                             f"weight-sharing search directory; use another workdir")
        if os.path.isdir(os.path.join(workdir, artifacts.TRIALS_DIR)):
            raise ValueError(f"{workdir} holds a trial search (trials/); use another workdir")
        return False
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    if not isinstance(saved, dict) or "supernet" not in saved:
        raise ValueError(f"{workdir} holds a trial search, not a weight-sharing one; "
                         f"use another workdir")
    diff = identity_diff(saved, config)
    if diff:
        shown = ", ".join(f"{k}: {_dig(saved, k)!r} -> {_dig(config.to_dict(), k)!r}"
                          for k in diff[:6])
        raise ValueError(f"{workdir} holds another weight-sharing search (differs in {shown}"
                         f"{', ...' if len(diff) > 6 else ''}); use a new workdir")
    return True


def _dig(data: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return "<absent>"
        data = data[part]
    return data


def _check_max_epochs(max_epochs: Any) -> None:
    if max_epochs is not None and (isinstance(max_epochs, bool)
                                   or not isinstance(max_epochs, int) or max_epochs < 1):
        raise ValueError(f"max_epochs must be an int >= 1 or None, got {max_epochs!r}")


class WeightSharingSearch:
    """One search in one work directory: the constructor checks, ``run`` writes (see above)."""

    def __init__(self, config: WeightSharingConfig, workdir: str, *, retrain: Any = None,
                 stream: TextIO | None = sys.stdout, max_epochs: int | None = None):
        if not isinstance(config, WeightSharingConfig):
            raise ValueError(f"config must be a WeightSharingConfig, got {type(config).__name__}")
        if retrain is not None and not callable(getattr(retrain, "evaluate", None)):
            raise ValueError(f"retrain must have an evaluate(genotype) method, got {retrain!r}")
        _check_max_epochs(max_epochs)
        # First TensorFlow work: a multi-worker strategy must exist before any op runs.
        self.dist = distribute.make_strategy(config.distribute_strategy)
        self.config, self.workdir, self.stream = config, workdir, stream
        self.max_epochs = max_epochs
        self.space = config.space()
        c = config.controller
        self.strategy = strategies.make(c.strategy, self.space, seed=config.seed,
                                        **c.strategy_options)
        self.data = SearchData(config.data, self.dist.num_replicas_in_sync,
                               c.reward_batch_size, config.training.steps_per_epoch)
        if retrain is None and config.retrain is not None:
            retrain = ChildEvaluator(config.retrain)   # loads (checks) its data
        self.retrain = retrain
        self.resuming = prepare_workdir(config, workdir)
        # -- nothing was written before this line, nor is in the rest of the constructor --
        self.chief = distribute.is_chief(self.dist)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        tf_keras.utils.set_random_seed(config.seed)
        with self.dist.scope():
            self.model = Supernet(config.supernet, self.data.info.num_classes,
                                  config.data.image_size, seed=config.seed,
                                  mixed_precision=config.training.mixed_precision)
            self.trainer = SupernetTrainer(self.model, config.training,
                                           self.data.steps_per_epoch, self.dist)
        self.evaluator = SupernetEvaluator(self.trainer, self.space)
        self.checkpoint = SearchCheckpoint(os.path.join(workdir, CHECKPOINTS), self.chief,
                                           model=self.model, optimizer=self.trainer.optimizer,
                                           generator=self.model.generator)
        index = self.checkpoint.restore() if self.resuming else None
        if index is not None:
            self.strategy.set_state(index["strategy"])
            self.state = {k: v for k, v in index.items() if k not in ("format_version", "weights")}
            self.state.setdefault("replicas", self.dist.num_replicas_in_sync)
        else:
            self.state = _fresh_state(self.strategy, self.dist.num_replicas_in_sync)
        self.progress: Progress | None = None
        self.start = time.perf_counter()

    # -- bookkeeping -----------------------------------------------------------------
    def save(self) -> tuple[float, float]:
        """Checkpoints the search; its time counts in the search's seconds (those of the
        running epoch; the index on disk lacks only this save's own). Returns the clock after."""
        since = time.perf_counter(), time.process_time()
        self.state["strategy"] = self.strategy.get_state()
        self.checkpoint.save(self.state)
        return self._clock(since)

    def _clock(self, since: tuple[float, float]) -> tuple[float, float]:
        """Adds the wall / CPU seconds since ``since`` to the running epoch and the total."""
        wall, cpu = time.perf_counter() - since[0], time.process_time() - since[1]
        running = self.state["running"]
        running["wall_seconds"] += wall
        running["cpu_seconds"] += cpu
        self.state["wall_seconds"] += wall
        self.state["cpu_seconds"] += cpu
        return time.perf_counter(), time.process_time()

    # -- phases ----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Runs the search to its end (or ``max_epochs`` epochs), then the report; the summary."""
        cfg = self.config
        if self.chief:
            os.makedirs(self.workdir, exist_ok=True)
            if not self.resuming:
                io_utils.atomic_write_json(os.path.join(self.workdir, CONFIG_JSON),
                                           cfg.to_dict())
        logdir = (os.path.join(self.workdir, TENSORBOARD_DIR)
                  if cfg.tensorboard and self.chief else None)
        self.progress = Progress(self.stream if self.chief else None, logdir, cfg.training.epochs)
        self.start = time.perf_counter()
        try:
            return self._run()
        finally:
            self.progress.close()

    def _run(self) -> dict[str, Any]:
        s, cfg = self.state, self.config
        if s["phase"] in ("train", "controller"):
            verb = "resuming at" if self.resuming else "starting"
            self.progress.print(
                f"weight-sharing search {cfg.name!r}: {cfg.controller.strategy} over "
                f"{self.space.num_blocks}-block cells of {len(self.space.ops)} ops, supernet "
                f"{cfg.supernet.num_cells_per_stack}@F{cfg.supernet.out_filters}, "
                f"{self.data.steps_per_epoch} steps x {cfg.training.epochs} epochs on "
                f"{self.dist.num_replicas_in_sync} replica(s); {verb} epoch {s['epoch'] + 1}, "
                f"{s['phase']} step {s['step']}; workdir {self.workdir}")
        epochs_run = 0
        while s["phase"] in ("train", "controller"):
            if self.max_epochs is not None and epochs_run >= self.max_epochs:
                return summarize(cfg, s, finished=False)
            if s["phase"] == "train":
                self.train_phase()
            self.controller_phase()
            epochs_run += 1
        if s["phase"] == "derive":
            self.derive_phase()
        candidates = read_candidates(self.workdir)
        if s["phase"] == "retrain":
            s["phase"] = "done"
            self.save()
        retrained = self.retrain_best(candidates[0])
        summary = summarize(cfg, s, finished=True, candidates=candidates, retrained=retrained)
        if self.chief:
            summary["report"] = report_lib.write_report(self.workdir, cfg.name, candidates,
                                                        summary)
        return summary

    def train_phase(self) -> None:
        s = self.state
        steps = self.data.steps_per_epoch
        if not s["architectures"]:
            s["architectures"] = [list(c) for c in self.strategy.sample(steps)]
        holds = self.model.holds
        architectures = [tf.constant(arch_lib.encode(self.space, holds, c))
                         for c in s["architectures"]]
        iterator = iter(self.dist.experimental_distribute_dataset(
            self.data.train(s["epoch"], skip=s["step"])))
        every = self.config.training.checkpoint_every_steps
        clock = time.perf_counter(), time.process_time()
        running = s["running"]
        for step in range(s["step"], steps):
            loss, correct, count = self.trainer.train_step(iterator, architectures[step])
            running["loss_sum"] += float(loss)
            running["correct"] += int(correct)
            running["examples"] += int(count)
            running["steps"] += 1
            s["step"] = step + 1
            if every and s["step"] % every == 0 and s["step"] < steps:
                self._clock(clock)
                clock = self.save()
        self._clock(clock)
        s["phase"], s["step"] = "controller", 0
        s["learning_rate"] = self.trainer.learning_rate()
        if self.config.controller.steps_per_epoch:
            self.save()   # else the epoch ends at once and saves then

    def controller_phase(self) -> None:
        s, c = self.state, self.config.controller
        per_step, every = c.architectures_per_step, c.checkpoint_every_steps
        self.evaluator.use_batches(self.data.rewards(s["epoch"], skip=s["step"] * per_step))
        clock = time.perf_counter(), time.process_time()
        for step in range(s["step"], c.steps_per_epoch):
            proposals = [self.strategy.ask() for _ in range(per_step)]
            rewards = [self.evaluator.evaluate(p.choices).reward for p in proposals]
            for proposal, reward in zip(proposals, rewards):
                self.strategy.tell(proposal, reward)
            s["running"]["rewards"] += rewards
            s["running"]["step_rewards"].append(sum(rewards) / len(rewards))
            s["controller_steps"] += 1
            s["step"] = step + 1
            self.progress.controller_step(s["controller_steps"], rewards,
                                          diagnostics(self.strategy))
            clock = self._clock(clock)
            if every and s["step"] % every == 0 and s["step"] < c.steps_per_epoch:
                clock = self.save()
        self._clock(clock)
        self.end_epoch()

    def end_epoch(self) -> None:
        s = self.state
        running = s["running"]
        rewards = running["rewards"]
        entry = {"epoch": s["epoch"] + 1,
                 "loss": running["loss_sum"] / max(1, running["steps"]),
                 "accuracy": running["correct"] / max(1, running["examples"]),
                 "learning_rate": s.get("learning_rate", self.trainer.learning_rate()),
                 "reward_mean": sum(rewards) / len(rewards) if rewards else None,
                 "reward_max": max(rewards) if rewards else None,
                 "step_rewards": list(running["step_rewards"]),
                 "controller_steps": s["controller_steps"],
                 "diagnostics": diagnostics(self.strategy),
                 "wall_seconds": running["wall_seconds"], "cpu_seconds": running["cpu_seconds"]}
        s["history"].append(entry)
        s["epoch"] += 1
        s["phase"] = "train" if s["epoch"] < self.config.training.epochs else "derive"
        s["step"], s["architectures"], s["running"] = 0, [], _fresh_running()
        self.save()
        recent = [h["wall_seconds"] for h in s["history"][-5:]]
        self.progress.epoch(entry, time.perf_counter() - self.start, sum(recent) / len(recent))

    def derive_phase(self) -> None:
        d = self.config.derive
        clock = time.perf_counter(), time.process_time()
        candidates = derive(self.strategy, self.evaluator,
                            self.data.validation(d.validation_batches), d.num_candidates)
        self._clock(clock)
        if self.chief:
            io_utils.atomic_write_json(os.path.join(self.workdir, DERIVE_JSON), {
                "num_sampled": d.num_candidates, "validation_batches": d.validation_batches,
                "candidates": [c.to_dict() for c in candidates]})
        best = candidates[0]
        self.progress.print(
            f"derived: {len(candidates)} distinct of {d.num_candidates} sampled cells scored on "
            f"{best.examples} validation images; best {best.genotype.fingerprint()} accuracy "
            f"{best.accuracy:.4f} (median {candidates[len(candidates) // 2].accuracy:.4f})")
        self.progress.scalar("derive/best_accuracy", best.accuracy, self.state["epoch"])
        self.state["phase"] = "retrain"
        self.save()

    def retrain_best(self, best: Candidate) -> dict[str, Any] | None:
        path = os.path.join(self.workdir, RETRAIN_JSON)
        genotype = best.genotype.with_name(f"{self.config.name}_derived")
        retrained = _read_json(path) if os.path.exists(path) else None
        if retrained is None and self.retrain is not None:
            self.progress.print(f"retraining the derived cell {genotype.fingerprint()} from scratch")
            start, cpu = time.perf_counter(), time.process_time()
            result = self.retrain.evaluate(genotype)
            retrained = {"fingerprint": genotype.fingerprint(), "reward": result.reward,
                         "error": result.error, "metrics": result.metrics,
                         "wall_seconds": time.perf_counter() - start,
                         "cpu_seconds": time.process_time() - cpu}
            if self.chief:
                io_utils.atomic_write_json(path, retrained)
            self.progress.print(f"retrained: validation accuracy {result.reward}"
                                + (f" (FAILED: {result.error})" if result.error else ""))
        return retrained

    # -- after the search ---------------------------------------------------------------
    def scores(self, points: list[Any], validation_batches: int | None = None) -> list[float]:
        """The supernet's accuracy (its current weights) of each point or genotype, every one
        on the same first ``validation_batches`` validation batches (None: all of them).
        For comparing the supernet's ranking with stand-alone training (benchmarks)."""
        dataset = self.data.validation(validation_batches)
        return [self.evaluator.score(p, dataset).reward for p in points]


def _read_json(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_candidates(workdir: str) -> list[Candidate]:
    """The derived candidates of ``workdir``, best first (ValueError before the derivation)."""
    path = os.path.join(workdir, DERIVE_JSON)
    if not os.path.exists(path):
        raise ValueError(f"{workdir} has no {DERIVE_JSON} yet: the search has not derived its "
                         f"cell; run it to the end first")
    return [Candidate.from_dict(c) for c in _read_json(path)["candidates"]]


def summarize(config: WeightSharingConfig, state: dict[str, Any], finished: bool,
              candidates: list[Candidate] | None = None,
              retrained: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's summary (JSON values): see ``run_weight_sharing``."""
    return {"name": config.name, "strategy": config.controller.strategy,
            "finished": finished, "epochs": state["epoch"],
            "total_epochs": config.training.epochs,
            "controller_steps": state["controller_steps"], "history": state["history"],
            "wall_seconds": state["wall_seconds"], "cpu_seconds": state["cpu_seconds"],
            "replicas": state.get("replicas"),
            "num_candidates": len(candidates) if candidates else 0,
            "best": candidates[0].to_dict() if candidates else None,
            "retrain": None if retrained is None else
            {k: v for k, v in retrained.items() if k != "metrics"}}


def report_from_workdir(workdir: str) -> dict[str, Any]:
    """Rewrites ``report/`` of a derived search from its files (runs nothing); the summary."""
    config = load_workdir_config(workdir)
    candidates = read_candidates(workdir)
    index = SearchCheckpoint(os.path.join(workdir, CHECKPOINTS)).read_index()
    if index is None:
        raise ValueError(f"{workdir} has no checkpoint index: not a finished search")
    retrain_path = os.path.join(workdir, RETRAIN_JSON)
    retrained = _read_json(retrain_path) if os.path.exists(retrain_path) else None
    summary = summarize(config, index, finished=index["phase"] == "done",
                        candidates=candidates, retrained=retrained)
    summary["report"] = report_lib.write_report(workdir, config.name, candidates, summary)
    return summary


def run_weight_sharing(config: WeightSharingConfig, workdir: str, *, retrain: Any = None,
                       stream: TextIO | None = sys.stdout,
                       max_epochs: int | None = None) -> dict[str, Any]:
    """Runs (or resumes, or reprints) the search of ``config`` in ``workdir``.

    Returns a summary: ``finished``, ``epochs``, ``controller_steps``, the
    per-epoch ``history``, ``wall_seconds`` / ``cpu_seconds`` of the search
    (retraining excluded), ``replicas``, ``best`` (the derived candidate),
    ``retrain`` (reward, error, seconds) and ``report`` (paths).
    """
    return WeightSharingSearch(config, workdir, retrain=retrain, stream=stream,
                               max_epochs=max_epochs).run()


__all__ = ["WeightSharingSearch", "run_weight_sharing", "prepare_workdir", "is_workdir",
           "load_workdir_config", "read_candidates", "report_from_workdir", "summarize",
           "PHASES"]
