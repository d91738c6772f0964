"""Bayesian optimisation through Optuna's ask/tell API (no optimiser written here).

Each decision of the space becomes a categorical parameter ``x{i}`` with
choices ``0 .. n-1``; ``ask`` is ``study.ask(fixed_distributions)`` and
``tell`` is ``study.tell`` (``TrialState.FAIL`` for a failed trial, which the
samplers then ignore). Samplers:

* ``"tpe"``: the Tree-structured Parzen Estimator (Bergstra et al. 2011;
  ``optuna.samplers.TPESampler``). By default multivariate (Falkner et al.
  2018 model the joint density too), which captures interactions between
  decisions that independent TPE cannot; with ``constant_liar`` so that
  asynchronous workers do not all receive the same point (Optuna's advice for
  distributed optimisation).
* ``"gp"``: Gaussian-process BO with log expected improvement
  (``optuna.samplers.GPSampler``). It needs PyTorch, an optional extra that
  the default install leaves out (on a GPU machine it brings gigabytes of CUDA
  libraries): ``make setup-gp`` (``requirements-gp.txt``) or
  ``pip install '.[bayesian-gp]'``. Without it the constructor raises a
  ValueError naming that command (``GP_INSTALL_HINT``).

``n_startup_trials`` random trials come first (Optuna's default: 10).

Exact resume: the strategy keeps every trial (params, state, value) in
creation order. The Optuna study lives in memory only and is rebuilt from
those trials with ``study.add_trial`` after ``set_state``; the sampler is
re-created with a seed derived from ``(seed, ask index)`` before every ask,
so the next proposal depends only on the trials and the ask index, never on
hidden sampler state.

Example:
    >>> from search_cifar import strategies
    >>> from search_cifar.space import CategoricalSpace
    >>> s = strategies.make("bayesian", CategoricalSpace((5,) * 6), seed=0, sampler="tpe")
    >>> p = s.ask(); s.tell(p, 0.3)
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from search_cifar.strategies import base, registry

SAMPLERS = ("tpe", "gp")
GP_INSTALL_HINT = ("make setup-gp (or: pip install -r requirements-gp.txt; for the package: "
                   "pip install 'nasnet-pipeline[bayesian-gp]')")

_STATES = {"running": TrialState.RUNNING, "complete": TrialState.COMPLETE,
           "fail": TrialState.FAIL}


@registry.register
class BayesianOptimization(base.Strategy):
    """Optuna TPE or GP sampler over the categorical decisions.

    Args:
        sampler: "tpe" or "gp".
        n_startup_trials: random trials before the model is used (>= 1).
        multivariate: TPE only; model the decisions jointly.
        constant_liar: TPE only; treat running trials as bad so that parallel
            asks spread out.
    """

    name = "bayesian"

    def __init__(self, space: base.SpaceLike, seed: int = 0, sampler: str = "tpe",
                 n_startup_trials: int = 10, multivariate: bool = True,
                 constant_liar: bool = True):
        super().__init__(space, seed=seed)
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; known: {list(SAMPLERS)}")
        if sampler == "gp" and importlib.util.find_spec("torch") is None:
            raise ValueError(
                f"sampler='gp' needs PyTorch (optuna's GPSampler uses it), an optional extra "
                f"that is not installed: {GP_INSTALL_HINT}; or use sampler='tpe' (the default)")
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) \
                or n_startup_trials < 1:
            raise ValueError(f"n_startup_trials must be an int >= 1, got {n_startup_trials!r}")
        for label, value in (("multivariate", multivariate), ("constant_liar", constant_liar)):
            if not isinstance(value, bool):
                raise ValueError(f"{label} must be a bool, got {value!r}")
        self.sampler = sampler
        self.n_startup_trials = n_startup_trials
        self.multivariate = multivariate
        self.constant_liar = constant_liar
        self._distributions = {
            f"x{i}": CategoricalDistribution(list(range(n)))
            for i, n in enumerate(space.num_choices)}
        # One entry per Optuna trial, in trial-number order.
        self._trials: list[dict[str, Any]] = []
        self._trial_of: dict[int, int] = {}  # proposal id -> trial number
        self._num_asks = 0
        self._study: optuna.Study | None = None

    @property
    def num_random_proposals(self) -> int:
        """Optuna's start-up trials, drawn by its random sampler."""
        return self.n_startup_trials

    def _options(self) -> dict[str, Any]:
        return {"sampler": self.sampler, "n_startup_trials": self.n_startup_trials,
                "multivariate": self.multivariate, "constant_liar": self.constant_liar}

    # -- Optuna -----------------------------------------------------------
    def _make_sampler(self) -> optuna.samplers.BaseSampler:
        seed = int(np.random.SeedSequence([self.seed, self._num_asks]).generate_state(1)[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if self.sampler == "gp":
                return optuna.samplers.GPSampler(seed=seed, n_startup_trials=self.n_startup_trials)
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=self.n_startup_trials,
                multivariate=self.multivariate, constant_liar=self.constant_liar)

    def _get_study(self) -> optuna.Study:
        if self._study is None:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            study = optuna.create_study(direction="maximize", sampler=self._make_sampler())
            for t in self._trials:
                study.add_trial(create_trial(
                    state=_STATES[t["state"]], value=t["value"],
                    params={f"x{i}": c for i, c in enumerate(t["params"])},
                    distributions=self._distributions))
            self._study = study
        return self._study

    # -- the algorithm ----------------------------------------------------
    def _propose(self) -> tuple[int, ...]:
        study = self._get_study()
        study.sampler = self._make_sampler()
        with warnings.catch_warnings():
            # Experimental-feature and independent-sampling notices, once per ask.
            warnings.simplefilter("ignore")
            trial = study.ask(self._distributions)
        if trial.number != len(self._trials):
            raise RuntimeError(
                f"optuna trial number {trial.number} out of step with {len(self._trials)} "
                "recorded trials")
        choices = tuple(int(trial.params[f"x{i}"]) for i in range(len(self.space.num_choices)))
        self._trials.append({"params": list(choices), "state": "running", "value": None})
        self._trial_of[self._next_id] = trial.number  # base.ask uses _next_id for this proposal
        self._num_asks += 1
        return choices

    def _observe(self, proposal: base.Proposal, reward: float | None) -> None:
        number = self._trial_of.pop(proposal.id)
        study = self._get_study()
        if reward is None:
            study.tell(number, state=TrialState.FAIL)
            self._trials[number].update(state="fail", value=None)
        else:
            study.tell(number, float(reward))
            self._trials[number].update(state="complete", value=float(reward))

    # -- state ------------------------------------------------------------
    def _get_algorithm_state(self) -> dict[str, Any]:
        return {"trials": [dict(t) for t in self._trials],
                "trial_of": [[pid, number] for pid, number in sorted(self._trial_of.items())],
                "num_asks": self._num_asks}

    def _set_algorithm_state(self, state: dict[str, Any]) -> None:
        trials = []
        for t in state["trials"]:
            if t["state"] not in _STATES:
                raise ValueError(f"unknown optuna trial state {t['state']!r}")
            params = [int(c) for c in t["params"]]
            if len(params) != len(self.space.num_choices):
                raise ValueError(
                    f"bayesian state has a trial of {len(params)} decisions, the space has "
                    f"{len(self.space.num_choices)}")
            value = None if t["value"] is None else float(t["value"])
            trials.append({"params": params, "state": t["state"], "value": value})
        self._trials = trials
        self._trial_of = {int(pid): int(number) for pid, number in state["trial_of"]}
        self._num_asks = int(state["num_asks"])
        self._study = None  # Rebuilt from the trials on the next ask or tell.
