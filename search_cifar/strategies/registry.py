"""Strategies by name: ``register`` (a class decorator), ``names``, ``strategy_class``, ``make``.

The names come from ``strategies.MODULES`` (name -> module, imported on first
use) and from classes registered directly (a strategy defined outside this
package, e.g. in a user's own code or a test). A registered module that fails
to import raises its ImportError; one that imports but registers no strategy
of that name is a ValueError naming both.

Example:
    >>> from search_cifar.strategies import registry
    >>> "evolution" in registry.names()
    True
    >>> s = registry.make("evolution", space, seed=0, population_size=10)
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from search_cifar.strategies.base import SpaceLike, Strategy

_CLASSES: dict[str, type[Strategy]] = {}


def _modules() -> dict[str, str]:
    from search_cifar.strategies import MODULES  # noqa: PLC0415 -- the package imports this module
    return MODULES


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: makes ``cls`` available to ``make(cls.name, ...)``."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValueError(f"only a Strategy subclass can be registered, got {cls!r}")
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    known = _CLASSES.get(cls.name)
    if known is not None and (known.__module__, known.__qualname__) != (
            cls.__module__, cls.__qualname__):
        raise ValueError(f"strategy name {cls.name!r} is taken by "
                         f"{known.__module__}.{known.__qualname__}")
    _CLASSES[cls.name] = cls
    return cls


def names() -> list[str]:
    """Every strategy name, sorted (imports nothing)."""
    return sorted(set(_modules()) | set(_CLASSES))


def strategy_class(name: str) -> type[Strategy]:
    """The class of strategy ``name``, importing its module on first use."""
    if name not in _CLASSES:
        module = _modules().get(name)
        if module is None:
            raise ValueError(f"unknown strategy {name!r}; known: {names()}")
        importlib.import_module(f"search_cifar.strategies.{module}")
        if name not in _CLASSES:
            raise ValueError(f"module search_cifar.strategies.{module} registers no strategy "
                             f"named {name!r} (strategies.MODULES says it does)")
    return _CLASSES[name]


def make(name: str, space: SpaceLike, seed: int = 0, **options: Any) -> Strategy:
    """Builds the strategy called ``name``; options are its keyword arguments."""
    cls = strategy_class(name)
    params = inspect.signature(cls.__init__).parameters
    allowed = {p for p in params if p not in ("self", "space", "seed")}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"strategy {name!r} does not take option(s) {unknown}; it takes {sorted(allowed)}")
    return cls(space, seed=seed, **options)
