"""Search strategies behind one ask/tell interface (see ``base.py``), made by name.

``MODULES`` is the registry: strategy name -> the module of this package that
defines it (a ``base.Strategy`` subclass with that ``name``, decorated with
``@registry.register``). Adding a strategy is its module plus one line here;
``names()``, ``make()``, the search binary's ``--strategy`` help and the
experiments' validation all read this registry. A module is imported the
first time its strategy is made, so listing the names costs nothing (the RL
controller's module imports TensorFlow); a module that fails to import is an
error, raised as is, never skipped.

Registered:

* ``random``: uniform sampling, the baseline (``random_search.py``);
* ``evolution``: regularized (aging) evolution, Real et al. 2019 (``evolution.py``);
* ``rl``: an LSTM controller trained with policy gradients, Zoph et al. 2018
  (``rl_controller.py``);
* ``progressive``: PNAS with a surrogate predictor, Liu et al. 2018 (``progressive.py``);
* ``bayesian``: Optuna's TPE or GP sampler through its ask/tell API (``bayesian.py``).

Example:
    >>> from search_cifar import strategies
    >>> from search_cifar.space import CategoricalSpace
    >>> s = strategies.make("evolution", CategoricalSpace((5,) * 6), seed=0)
    >>> p = s.ask(); s.tell(p, 0.5)
"""

from __future__ import annotations

from search_cifar.strategies.base import Proposal, Strategy
from search_cifar.strategies.registry import make, names, register, strategy_class

__all__ = ["MODULES", "Proposal", "Strategy", "make", "names", "register", "strategy_class"]

#: Strategy name -> its module in this package (the registry; see the module docstring).
MODULES: dict[str, str] = {
    "random": "random_search",
    "evolution": "evolution",
    "rl": "rl_controller",
    "progressive": "progressive",
    "bayesian": "bayesian",
}
