"""Progressive neural architecture search (PNAS; Liu et al. 2018, "Progressive
Neural Architecture Search", Sec. 3, Algorithm 1).

Cells grow one block at a time. Stage 1 evaluates 1-block cells; stage b + 1
expands each of the K best evaluated b-block cells by one block in every way
(or a sample of the ways), ranks the expansions with a surrogate predictor
trained on every cell evaluated so far, and evaluates the K best. The
surrogate is what lets small cells teach the search about large ones.

Here a proposal of stage b is a choice tuple of b whole blocks of a
block-structured space (``NasnetCellSpace.decode`` accepts such prefixes), so
an objective sees b-block cells, as in the paper. On a space that is not
block-structured the constructor raises a ValueError.

Differences from the paper, each a documented choice for budgets of a few
hundred cheap trials rather than 1,160 trained models:

* ``beam_size`` K defaults to 8 (the paper uses K = 256).
* Stage 1 evaluates ``num_initial`` 1-block cells (default 2K): all of them
  when there are that few, else a uniform sample. The paper evaluates all 136
  distinct 1-block cells of its single-cell space; with a normal and a
  reduction cell there are thousands.
* At most ``max_candidates`` expansions are scored per stage (sampled
  uniformly per parent when there are more); the paper scores all of them.
* After the last stage (where the paper stops) the search goes on with
  refinement rounds, so that any budget can be spent: each round ranks the
  single-decision variants of the K best full cells together with fresh
  expansions of the K best (B-1)-block cells and evaluates the K best unseen.
* The surrogate is an ensemble of small MLPs (the paper's MLP-ensemble
  variant, Sec. 3.2) written in numpy: a cell's features are the mean over its
  blocks of the block's one-hot decisions (so what is learned about block 1
  transfers to block 3, as with the paper's shared embeddings averaged over
  blocks), plus b / B. Each member is trained on a bootstrap resample of the
  evaluated cells (MSE on standardised rewards, Adam); the ranking uses the
  ensemble mean.

Asynchronous workers: a stage hands out its K proposals, then the next
ranked candidates of the same stage while earlier ones are still running, and
only moves on once every proposal of the stage has been told (or its reserve
of ``3K`` candidates is spent).

Exact resume: a stage's candidates, ranking and surrogate are a pure function
of ``(seed, stage index, evaluated cells)``: every stage draws from its own
generator ``new_rng(seed, stage)``, so the state holds data, not weights.

Example:
    >>> from search_cifar import strategies
    >>> from search_cifar.space import NasnetCellSpace
    >>> s = strategies.make("progressive", NasnetCellSpace(num_blocks=2), seed=0, beam_size=2)
    >>> p = s.ask(); len(p.choices)  # a 1-block cell
    8
    >>> s.tell(p, 0.5)
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

import numpy as np

from search_cifar.strategies import base, registry

Choices = tuple[int, ...]


class MLPEnsemble:
    """Bootstrap ensemble of one-hidden-layer ReLU MLPs, trained with Adam in numpy.

    ``fit(x [n, d], y [n])``; ``predict(x [m, d]) -> [m]`` (the ensemble mean,
    in the units of ``y``).
    """

    def __init__(self, num_members: int = 5, hidden_units: int = 64, steps: int = 300,
                 learning_rate: float = 0.01, l2: float = 1e-4):
        self.num_members = num_members
        self.hidden_units = hidden_units
        self.steps = steps
        self.learning_rate = learning_rate
        self.l2 = l2
        self._params: dict[str, np.ndarray] | None = None
        self._y_mean, self._y_std = 0.0, 1.0

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> "MLPEnsemble":
        x = np.asarray(x, np.float64)
        y = np.asarray(y, np.float64)
        self._y_mean = float(y.mean())
        self._y_std = float(y.std()) or 1.0
        z = (y - self._y_mean) / self._y_std
        n, d = x.shape
        m, h = self.num_members, self.hidden_units
        rows = rng.integers(n, size=(m, n))  # one bootstrap resample per member
        xb, zb = x[rows], z[rows]            # [m, n, d], [m, n]
        params = {"w1": rng.normal(0, math.sqrt(2.0 / max(d, 1)), (m, d, h)),
                  "b1": np.zeros((m, 1, h)),
                  "w2": rng.normal(0, math.sqrt(1.0 / h), (m, h, 1)),
                  "b2": np.zeros((m, 1, 1))}
        moment1 = {k: np.zeros_like(v) for k, v in params.items()}
        moment2 = {k: np.zeros_like(v) for k, v in params.items()}
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        xt = np.swapaxes(xb, 1, 2)
        for t in range(1, self.steps + 1):
            pre = xb @ params["w1"] + params["b1"]            # [m, n, h]
            hidden = np.maximum(pre, 0.0)
            out = hidden @ params["w2"] + params["b2"]        # [m, n, 1]
            err = (out - zb[..., None]) * (2.0 / n)           # d(mean squared error)/d(out)
            grads = {"w2": np.swapaxes(hidden, 1, 2) @ err + 2 * self.l2 * params["w2"],
                     "b2": err.sum(axis=1, keepdims=True)}
            dpre = (err @ np.swapaxes(params["w2"], 1, 2)) * (pre > 0)
            grads["w1"] = xt @ dpre + 2 * self.l2 * params["w1"]
            grads["b1"] = dpre.sum(axis=1, keepdims=True)
            for k in params:
                moment1[k] = beta1 * moment1[k] + (1 - beta1) * grads[k]
                moment2[k] = beta2 * moment2[k] + (1 - beta2) * grads[k] ** 2
                step = moment1[k] / (1 - beta1 ** t) / (np.sqrt(moment2[k] / (1 - beta2 ** t)) + eps)
                params[k] = params[k] - self.learning_rate * step
        self._params = params
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self._params is None:
            raise ValueError("the surrogate has not been fitted")
        p = self._params
        x = np.asarray(x, np.float64)[None]                   # [1, c, d]
        out = np.maximum(x @ p["w1"] + p["b1"], 0.0) @ p["w2"] + p["b2"]  # [m, c, 1]
        return out[..., 0].mean(axis=0) * self._y_std + self._y_mean


@registry.register
class ProgressiveSearch(base.Strategy):
    """PNAS on a block-structured space.

    Args:
        beam_size: K, cells kept and proposed per stage (the paper: 256).
        num_initial: 1-block cells evaluated in stage 1 (default 2K).
        max_candidates: expansions scored by the surrogate per stage.
        ensemble_size: MLPs in the surrogate ensemble.
    """

    name = "progressive"

    def __init__(self, space: base.SpaceLike, seed: int = 0, beam_size: int = 8,
                 num_initial: int | None = None, max_candidates: int = 1000,
                 ensemble_size: int = 5):
        super().__init__(space, seed=seed)
        if not getattr(space, "is_block_structured", False):
            raise ValueError(
                f"progressive search needs a block-structured space (cells that grow one "
                f"block at a time, like NasnetCellSpace); {space!r} is not")
        for label, value, low in (("beam_size", beam_size, 1), ("max_candidates", max_candidates, 1),
                                  ("ensemble_size", ensemble_size, 1),
                                  ("num_initial", 2 * beam_size if num_initial is None
                                   else num_initial, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{label} must be an int >= {low}, got {value!r}")
        self.beam_size = beam_size
        self.num_initial = 2 * beam_size if num_initial is None else num_initial
        self.max_candidates = max_candidates
        self.ensemble_size = ensemble_size
        self._num_blocks = int(space.num_blocks)
        self._per_block = int(space.decisions_per_block)
        self._block_choices = [tuple(space.num_choices[k * self._per_block:(k + 1) * self._per_block])
                               for k in range(self._num_blocks)]
        # Block features one-hot each in-block position with its largest choice count.
        self._feature_sizes = [max(bc[i] for bc in self._block_choices)
                               for i in range(self._per_block)]
        self._offsets = np.concatenate([[0], np.cumsum(self._feature_sizes)]).astype(int)
        self._stage = 0            # index of the current stage (0 = the 1-block stage)
        self._stage_started = False
        self._queue: list[Choices] = []      # the stage's K best, in rank order
        self._reserve: list[Choices] = []    # the next ranked candidates
        self._stage_ids: list[int] = []      # proposal ids asked in this stage
        self._asked: set[Choices] = set()
        self._data: list[tuple[Choices, float | None]] = []  # in tell order

    @property
    def num_random_proposals(self) -> int:
        """0: stage 1's ``num_initial`` proposals are sampled uniformly, but they are
        1-block cells, smaller networks than the search's result, so their rewards
        are no baseline for it."""
        return 0

    def _options(self) -> dict[str, Any]:
        return {"beam_size": self.beam_size, "num_initial": self.num_initial,
                "max_candidates": self.max_candidates, "ensemble_size": self.ensemble_size}

    # -- helpers ----------------------------------------------------------
    def _blocks_of(self, choices: Sequence[int]) -> int:
        return len(choices) // self._per_block

    def stage_blocks(self, stage: int | None = None) -> int:
        """How many blocks the cells proposed in ``stage`` (default: current) have."""
        stage = self._stage if stage is None else stage
        return min(stage + 1, self._num_blocks)

    def features(self, cells: Sequence[Sequence[int]]) -> np.ndarray:
        """[len(cells), sum(feature_sizes) + 1]: mean one-hot block features and b / B."""
        out = np.zeros((len(cells), int(self._offsets[-1]) + 1))
        by_length: dict[int, list[int]] = {}
        for row, choices in enumerate(cells):
            by_length.setdefault(len(choices), []).append(row)
        for length, rows in by_length.items():
            b = length // self._per_block
            # [rows, b, per_block] -> column of each one-hot entry.
            columns = np.array([cells[r] for r in rows]).reshape(len(rows), b, self._per_block)
            columns = columns + self._offsets[:-1]
            row_index = np.repeat(np.array(rows), b * self._per_block)
            np.add.at(out, (row_index, columns.reshape(-1)), 1.0 / b)
            out[rows, -1] = b / self._num_blocks
        return out

    def _random_block(self, k: int, rng: np.random.Generator) -> Choices:
        return base.random_choices(rng, self._block_choices[k])

    def _expansions(self, parents: Sequence[Choices], quota: int,
                    rng: np.random.Generator) -> list[Choices]:
        """Up to ``quota`` unseen one-block expansions of each parent."""
        out: list[Choices] = []
        for parent in parents:
            k = self._blocks_of(parent)
            total = math.prod(self._block_choices[k])
            if total <= quota:
                blocks = list(itertools.product(*(range(n) for n in self._block_choices[k])))
            else:
                seen: set[Choices] = set()
                for _ in range(3 * quota):
                    seen.add(self._random_block(k, rng))
                    if len(seen) >= quota:
                        break
                blocks = sorted(seen)
            out += [tuple(parent) + block for block in blocks]
        return out

    def _variants(self, parents: Sequence[Choices]) -> list[Choices]:
        """Every choice tuple that differs from a parent in exactly one decision."""
        out = []
        for parent in parents:
            for i, n in enumerate(self.space.num_choices[:len(parent)]):
                for value in range(n):
                    if value != parent[i]:
                        out.append(parent[:i] + (value,) + parent[i + 1:])
        return out

    def _best(self, num_blocks: int, k: int) -> list[Choices]:
        """The k best evaluated (not failed) cells of ``num_blocks`` blocks."""
        scored: dict[Choices, float] = {}
        for choices, reward in self._data:
            if reward is not None and self._blocks_of(choices) == num_blocks:
                scored[choices] = max(reward, scored.get(choices, -math.inf))
        # Ties broken by the choices themselves, so the order is reproducible.
        return [c for c, _ in sorted(scored.items(), key=lambda cr: (-cr[1], cr[0]))[:k]]

    # -- stages -----------------------------------------------------------
    def _start_stage(self) -> None:
        """Builds the queue and reserve of the current stage."""
        rng = base.new_rng(self.seed, self._stage)
        b = self.stage_blocks()
        if self._stage == 0:
            candidates = self._expansions([()], self.num_initial + 3 * self.beam_size, rng)
            candidates = [c for c in candidates if c not in self._asked]
            order = rng.permutation(len(candidates))
            ranked = [candidates[int(i)] for i in order]
            self._queue = ranked[:self.num_initial]
            self._reserve = ranked[self.num_initial:self.num_initial + 3 * self.beam_size]
        else:
            parents = self._best(b - 1, self.beam_size) if b > 1 else [()]
            if not parents:  # every (b-1)-block cell failed: grow a random one
                parents = [base.random_choices(rng, self.space.num_choices[:(b - 1) * self._per_block])]
            candidates: list[Choices] = []
            if self._stage >= self._num_blocks:  # refinement rounds after the last stage
                candidates += self._variants(self._best(b, self.beam_size))
            if parents:
                quota = max(1, (self.max_candidates - len(candidates)) // len(parents))
                candidates += self._expansions(parents, quota, rng)
            candidates = sorted({c for c in candidates if c not in self._asked})
            if len(candidates) > self.max_candidates:
                keep = rng.choice(len(candidates), size=self.max_candidates, replace=False)
                candidates = [candidates[int(i)] for i in sorted(keep)]
            ranked = self._rank(candidates, rng)
            self._queue = ranked[:self.beam_size]
            self._reserve = ranked[self.beam_size:4 * self.beam_size]
        self._stage_ids = []
        self._stage_started = True

    def _rank(self, candidates: list[Choices], rng: np.random.Generator) -> list[Choices]:
        told = [(c, r) for c, r in self._data if r is not None]
        if len(told) < 2 or not candidates:
            order = rng.permutation(len(candidates))
            return [candidates[int(i)] for i in order]
        x = self.features([c for c, _ in told])
        y = np.array([r for _, r in told])
        model = MLPEnsemble(num_members=self.ensemble_size).fit(x, y, rng)
        scores = model.predict(self.features(candidates))
        order = np.lexsort((np.arange(len(candidates)), -scores))  # stable: best first
        return [candidates[int(i)] for i in order]

    def _stage_done(self) -> bool:
        return all(pid not in self._pending for pid in self._stage_ids)

    def _propose(self) -> Choices:
        for _ in range(3):
            if not self._stage_started:
                self._start_stage()
            if self._queue:
                choices = self._queue.pop(0)
            elif self._reserve and not self._stage_done():
                choices = self._reserve.pop(0)
            else:
                self._stage += 1
                self._stage_started = False
                continue
            self._stage_ids.append(self._next_id)  # base.ask gives this id to the proposal
            self._asked.add(choices)
            return choices
        # Nothing unseen left to propose (a tiny or exhausted space): a uniform
        # full cell, which the search driver recognises as a repeat.
        return base.random_choices(base.new_rng(self.seed, self._stage, self._next_id),
                                   self.space.num_choices)

    def _observe(self, proposal: base.Proposal, reward: float | None) -> None:
        self._data.append((tuple(proposal.choices), reward))

    # -- state ------------------------------------------------------------
    def _get_algorithm_state(self) -> dict[str, Any]:
        return {"stage": self._stage, "stage_started": self._stage_started,
                "queue": [list(c) for c in self._queue],
                "reserve": [list(c) for c in self._reserve],
                "stage_ids": list(self._stage_ids),
                "asked": sorted(list(c) for c in self._asked),
                "data": [[list(c), r] for c, r in self._data]}

    def _set_algorithm_state(self, state: dict[str, Any]) -> None:
        def cells(rows):
            out = [tuple(int(v) for v in row) for row in rows]
            for c in out:
                self.space.validate(c)
            return out
        data = [(c, None if r is None else float(r))
                for c, r in zip(cells(row for row, _ in state["data"]),
                                (r for _, r in state["data"]))]
        self._queue = cells(state["queue"])
        self._reserve = cells(state["reserve"])
        self._asked = set(cells(state["asked"]))
        self._data = data
        self._stage = int(state["stage"])
        self._stage_started = bool(state["stage_started"])
        self._stage_ids = [int(i) for i in state["stage_ids"]]
