"""Retraining the derived cell from scratch with the project's child training.

``child_evaluator(child_config)`` is the only place the weight-sharing search
imports the child-training module (``search_cifar/child.py``): the search
loop takes any object with ``evaluate(genotype) -> Result`` (reward, metrics,
error), and this builds the standard one, a ``ChildEvaluator`` that trains the
CIFAR network of the genotype from scratch and reports its validation
accuracy.

Example:
    >>> from search_cifar.child import TINY          # the quickstart's child
    >>> result = run_weight_sharing(config, workdir, retrain=child_evaluator(TINY))
"""

from __future__ import annotations

from typing import Any


def child_evaluator(child_config: Any) -> Any:
    """A ``search_cifar.child.ChildEvaluator`` for ``child_config`` (a ``ChildConfig``)."""
    from search_cifar import child  # noqa: PLC0415 -- the one import of child training
    return child.ChildEvaluator(child_config)
