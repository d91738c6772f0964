"""Search strategies behind one ask/tell interface (see ``base.py``).

Importing this package registers every strategy:

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

import importlib

from search_cifar.strategies.base import Proposal, Strategy, make, names, register

__all__ = ["Proposal", "Strategy", "make", "names", "register"]

_MODULES = ("random_search", "evolution", "progressive", "bayesian", "rl_controller")

for _module in _MODULES:
    try:
        importlib.import_module(f"{__name__}.{_module}")
    except ModuleNotFoundError as _e:
        # Only a module that does not exist yet is skipped (strategies are
        # written in parallel); an import error inside one is a real bug.
        if _e.name != f"{__name__}.{_module}":
            raise
