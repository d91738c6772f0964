"""The weight-sharing search loop (ENAS, Pham et al. 2018): a searched cell from one training.

``run_weight_sharing(config, workdir, retrain=None, stream=sys.stdout)``:

1. **Checks, before anything is written**: the config (validated on
   construction, the space against the supernet), the strategy and its
   options, the data (a missing dataset, batches that do not fit), the
   evaluator given for retraining, and a work directory of another search (a
   different supernet, space, data, strategy or seed: ValueError naming the
   differing keys; only ``config.EXECUTION_FIELDS`` may change).
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
4. **Retraining** (when ``retrain``, any object with ``evaluate(genotype) ->
   Result`` such as ``retrain.child_evaluator(child_config)``, is given): the
   derived cell trained from scratch; its Result goes to ``retrain.json``.
5. **Report**: ``report/best_genotype.json`` (``Genotype.save``, read by
   ``transfer``, ``detection`` and the zoo unchanged), the cell pictures
   ``report/best_cell/{normal,reduction}.{png,svg}``, ``report/candidates.md``
   (the derivation's table) and ``report/summary.json``.

Work directory: ``config.json``, ``checkpoints/`` (``checkpoint.py``),
``derive.json`` (every candidate and its accuracy), ``retrain.json``,
``report/`` and ``tensorboard/`` (``progress.py``).

**Resume.** A checkpoint is written every ``training.checkpoint_every_steps``
training steps, at the end of each training phase, after every controller
step and after the derivation. SIGKILL at any moment and call again with the
same config and work directory: the supernet's weights, the optimizer, the
random generator, the strategy's state and the data position come back from
the last checkpoint, so at most ``checkpoint_every_steps`` training steps (or
the rest of a phase when it is None) or one controller step are redone, and
the run then continues as the uninterrupted one would (bit for bit on a CPU
with ``deterministic=True``; within floating-point noise otherwise). A kill
during retraining repeats the retraining (child training has no
checkpoints). ``max_epochs`` stops after that many epochs in this call (the
state saved), as a kill at an epoch boundary would.

Example:
    >>> from search_cifar.child import TINY
    >>> summary = run_weight_sharing(get("enas_quickstart"), "out/enas_quickstart",
    ...                              retrain=retrain.child_evaluator(TINY))
    >>> summary["best"]["accuracy"], summary["retrain"]["reward"]
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any, TextIO

import tensorflow as tf
import tf_keras

from nasnet import io_utils
from nasnet.genotype import Genotype
from search_cifar import strategies
from search_cifar.weight_sharing import architecture as arch_lib
from search_cifar.weight_sharing.checkpoint import SearchCheckpoint
from search_cifar.weight_sharing.config import WeightSharingConfig, identity_diff
from search_cifar.weight_sharing.derive import Candidate, derive
from search_cifar.weight_sharing.evaluator import SupernetEvaluator
from search_cifar.weight_sharing.pipelines import SearchData
from search_cifar.weight_sharing.progress import Progress, diagnostics
from search_cifar.weight_sharing.supernet import Supernet
from search_cifar.weight_sharing.training import SupernetTrainer
from transfer import distribute

CONFIG_JSON = "config.json"
CHECKPOINTS = "checkpoints"
DERIVE_JSON = "derive.json"
RETRAIN_JSON = "retrain.json"
REPORT_DIR = "report"
TENSORBOARD_DIR = "tensorboard"
PHASES = ("train", "controller", "derive", "retrain", "done")


def _fresh_state(strategy: strategies.Strategy) -> dict[str, Any]:
    return {"epoch": 0, "phase": "train", "step": 0, "strategy": strategy.get_state(),
            "architectures": [], "running": _fresh_running(), "history": [],
            "controller_steps": 0, "wall_seconds": 0.0, "cpu_seconds": 0.0}


def _fresh_running() -> dict[str, Any]:
    return {"loss_sum": 0.0, "correct": 0, "examples": 0, "steps": 0, "rewards": [],
            "wall_seconds": 0.0, "cpu_seconds": 0.0}


def prepare_workdir(config: WeightSharingConfig, workdir: str) -> bool:
    """True when ``workdir`` holds this search already; ValueError for another one. Writes nothing."""
    path = os.path.join(workdir, CONFIG_JSON)
    if not os.path.exists(path):
        if os.path.exists(os.path.join(workdir, CHECKPOINTS)):
            raise ValueError(f"{workdir} has checkpoints but no {CONFIG_JSON}: not a "
                             f"weight-sharing search directory; use another workdir")
        return False
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
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


class _Search:
    """One call's state; ``run_weight_sharing`` is the public entry."""

    def __init__(self, config: WeightSharingConfig, workdir: str, retrain: Any,
                 stream: TextIO | None, max_epochs: int | None):
        if not isinstance(config, WeightSharingConfig):
            raise ValueError(f"config must be a WeightSharingConfig, got {type(config).__name__}")
        if retrain is not None and not callable(getattr(retrain, "evaluate", None)):
            raise ValueError(f"retrain must have an evaluate(genotype) method, got {retrain!r}")
        if max_epochs is not None and (isinstance(max_epochs, bool)
                                       or not isinstance(max_epochs, int) or max_epochs < 1):
            raise ValueError(f"max_epochs must be an int >= 1 or None, got {max_epochs!r}")
        self.config, self.workdir, self.retrain = config, workdir, retrain
        self.max_epochs = max_epochs
        self.space = config.space()
        c = config.controller
        self.strategy = strategies.make(c.strategy, self.space, seed=config.seed,
                                        **c.strategy_options)
        self.dist = distribute.make_strategy(config.distribute_strategy)
        self.data = SearchData(config.data, self.dist.num_replicas_in_sync,
                               c.reward_batch_size, config.training.steps_per_epoch)
        self.resuming = prepare_workdir(config, workdir)
        # -- nothing was written before this line -------------------------------------
        self.chief = distribute.is_chief(self.dist)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        tf_keras.utils.set_random_seed(config.seed)
        with self.dist.scope():
            self.model = Supernet(config.supernet, self.data.info.num_classes,
                                  config.data.image_size, seed=config.seed)
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
        else:
            self.state = _fresh_state(self.strategy)
        if self.chief:
            os.makedirs(workdir, exist_ok=True)
            if not self.resuming:
                io_utils.atomic_write_json(os.path.join(workdir, CONFIG_JSON), config.to_dict())
        logdir = os.path.join(workdir, TENSORBOARD_DIR) if config.tensorboard and self.chief else None
        self.progress = Progress(stream if self.chief else None, logdir, config.training.epochs)
        self.start = time.perf_counter()

    # -- bookkeeping -----------------------------------------------------------------
    def save(self) -> None:
        self.state["strategy"] = self.strategy.get_state()
        self.checkpoint.save(self.state)

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
        s, cfg = self.state, self.config
        if s["phase"] in ("train", "controller"):
            verb = "resuming at" if self.resuming else "starting"
            self.progress.print(
                f"weight-sharing search {cfg.name!r}: {cfg.controller.strategy} over "
                f"{self.space.num_blocks}-block cells of {len(self.space.ops)} ops, supernet "
                f"{cfg.supernet.num_cells_per_stack}@F{cfg.supernet.out_filters}, "
                f"{self.data.steps_per_epoch} steps x {cfg.training.epochs} epochs on "
                f"{self.dist.num_replicas_in_sync} replica(s); {verb} epoch {s['epoch'] + 1}, "
                f"{s['phase']} step {s['step']}")
        epochs_run = 0
        while s["phase"] in ("train", "controller"):
            if self.max_epochs is not None and epochs_run >= self.max_epochs:
                return self.summary(finished=False)
            if s["phase"] == "train":
                self.train_phase()
            self.controller_phase()
            epochs_run += 1
        if s["phase"] == "derive":
            self.derive_phase()
        candidates = [Candidate.from_dict(c) for c in self._read(DERIVE_JSON)["candidates"]]
        if s["phase"] == "retrain":
            s["phase"] = "done"
            self.save()
        retrained = self.retrain_best(candidates[0])
        return self.summary(finished=True, candidates=candidates, retrained=retrained)

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
                clock = self._clock(clock)
                self.save()
        self._clock(clock)
        s["phase"], s["step"] = "controller", 0
        s["learning_rate"] = self.trainer.learning_rate()
        if self.config.controller.steps_per_epoch:
            self.save()   # else the epoch ends at once and saves then

    def controller_phase(self) -> None:
        s, c = self.state, self.config.controller
        per_step = c.architectures_per_step
        self.evaluator.use_batches(self.data.rewards(s["epoch"], skip=s["step"] * per_step))
        clock = time.perf_counter(), time.process_time()
        for step in range(s["step"], c.steps_per_epoch):
            proposals = [self.strategy.ask() for _ in range(per_step)]
            rewards = [self.evaluator.evaluate(p.choices).reward for p in proposals]
            for proposal, reward in zip(proposals, rewards):
                self.strategy.tell(proposal, reward)
            s["running"]["rewards"] += rewards
            s["controller_steps"] += 1
            s["step"] = step + 1
            self.progress.controller_step(s["controller_steps"], rewards,
                                          diagnostics(self.strategy))
            clock = self._clock(clock)
            if s["step"] < c.steps_per_epoch:
                self.save()
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
        retrained = self._read(RETRAIN_JSON) if os.path.exists(path) else None
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

    # -- results -----------------------------------------------------------------------
    def _read(self, name: str) -> dict[str, Any]:
        with open(os.path.join(self.workdir, name), encoding="utf-8") as f:
            return json.load(f)

    def summary(self, finished: bool, candidates: list[Candidate] | None = None,
                retrained: dict[str, Any] | None = None) -> dict[str, Any]:
        s = self.state
        out = {"name": self.config.name, "strategy": self.config.controller.strategy,
               "finished": finished, "epochs": s["epoch"], "controller_steps": s["controller_steps"],
               "history": s["history"], "wall_seconds": s["wall_seconds"],
               "cpu_seconds": s["cpu_seconds"], "replicas": self.dist.num_replicas_in_sync,
               "best": candidates[0].to_dict() if candidates else None,
               "retrain": None if retrained is None else
               {k: v for k, v in retrained.items() if k != "metrics"}}
        if finished and self.chief:
            out["report"] = write_report(self.workdir, self.config.name, candidates, out)
        self.progress.close()
        return out


def write_report(workdir: str, name: str, candidates: list[Candidate],
                 summary: dict[str, Any], pictures: bool = True) -> dict[str, Any]:
    """``report/``: best_genotype.json, best_cell pictures, candidates.md, summary.json."""
    out_dir = os.path.join(workdir, REPORT_DIR)
    os.makedirs(out_dir, exist_ok=True)
    best = candidates[0].genotype.with_name(f"{name}_derived")
    paths: dict[str, Any] = {"best_genotype": os.path.join(out_dir, "best_genotype.json")}
    best.save(paths["best_genotype"])
    if pictures:
        from nasnet import diagram  # noqa: PLC0415 -- graphviz only when drawing
        paths["best_cell"] = diagram.render_genotype(best, os.path.join(out_dir, "best_cell"))
    lines = [f"# {name}: derived candidates (shared-weight validation accuracy)", "",
             "| rank | accuracy | fingerprint | draw |", "|---:|---:|---|---:|"]
    lines += [f"| {i + 1} | {c.accuracy:.4f} | {c.genotype.fingerprint()} | {c.draw} |"
              for i, c in enumerate(candidates)]
    paths["candidates"] = os.path.join(out_dir, "candidates.md")
    io_utils.atomic_write_text(paths["candidates"], "\n".join(lines) + "\n")
    paths["summary_json"] = os.path.join(out_dir, "summary.json")
    io_utils.atomic_write_json(paths["summary_json"], summary)
    return paths


def run_weight_sharing(config: WeightSharingConfig, workdir: str, *, retrain: Any = None,
                       stream: TextIO | None = sys.stdout,
                       max_epochs: int | None = None) -> dict[str, Any]:
    """Runs (or resumes, or reprints) the search of ``config`` in ``workdir``; see the module docstring.

    Returns a summary: ``finished``, ``epochs``, ``controller_steps``, the
    per-epoch ``history``, ``wall_seconds`` / ``cpu_seconds`` of the search
    (retraining excluded), ``best`` (the derived candidate), ``retrain``
    (reward, error, seconds) and ``report`` (paths).
    """
    return _Search(config, workdir, retrain, stream, max_epochs).run()


__all__ = ["run_weight_sharing", "prepare_workdir", "write_report", "PHASES"]
