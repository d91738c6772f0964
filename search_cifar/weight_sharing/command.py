"""The ``search`` binary's weight-sharing experiments: a preset and the flags -> a checked search.

``search_cifar/search.py`` hands over here when ``--experiment`` names a
weight-sharing preset (``config.names()``: ``enas_cifar10``,
``enas_quickstart``) or when ``--report_only``'s work directory holds a
weight-sharing search (``loop.is_workdir``). The binary keeps the flags; this
module takes their values as typed arguments:

* ``prepare(name, workdir, overrides, ...)``: the preset, then the flags
  that apply (``strategy`` -> ``controller.strategy`` with no options,
  ``data_dir`` -> ``data.data_dir`` and ``retrain.data.data_dir``,
  ``distribute_strategy``), then ``overrides`` (dotted keys of
  ``config.WeightSharingConfig``, strict); the CPU split into
  ``num_cpu_devices`` logical devices (``mirrored`` on a CPU, as
  ``transfer/train.py``'s flag); then ``loop.WeightSharingSearch``'s checks.
  The trial search's flags (``TRIAL_FLAGS``: ``--budget``, ``--workers``,
  ``--ray_address``, ``--cpus_per_trial``, ``--gpus_per_trial``) do not apply
  and are refused by name. Any error is a one-line ValueError raised before
  anything is written (the binary exits 2).
* ``report_only(workdir)``: ``loop.report_from_workdir``.
* ``summary_lines``: the end-of-run text (``report.summary_lines``).

Example:
    >>> search = prepare("enas_quickstart", "/tmp/ws", {"training.epochs": 2})
    >>> summary = search.run()
    >>> print("\\n".join(summary_lines(summary, "/tmp/ws")))
"""

from __future__ import annotations

import sys
from typing import Any, Mapping, Sequence, TextIO

from nasnet import distribute
from search_cifar.weight_sharing import config as config_lib
from search_cifar.weight_sharing import loop
from search_cifar.weight_sharing.report import summary_lines

#: Flags of the trial search that a weight-sharing search has no use for, and why.
TRIAL_FLAGS: dict[str, str] = {
    "budget": "training.epochs",
    "workers": "distribute_strategy",
    "ray_address": "distribute_strategy",
    "cpus_per_trial": "distribute_strategy",
    "gpus_per_trial": "distribute_strategy",
}


def build_config(name: str, overrides: Mapping[str, Any], *, strategy: str | None = None,
                 data_dir: str | None = None,
                 distribute_strategy: str | None = None) -> config_lib.WeightSharingConfig:
    """The preset ``name`` with the flags' values, then ``overrides``, applied (strict)."""
    config = config_lib.get(name)
    changes: dict[str, Any] = {}
    if strategy is not None and strategy != config.controller.strategy:
        changes["controller.strategy"] = strategy
        changes["controller.strategy_options"] = {}
    if data_dir is not None:
        changes["data.data_dir"] = data_dir
    if distribute_strategy is not None:
        changes["distribute_strategy"] = distribute_strategy
    config = config_lib.override(config, changes)
    if data_dir is not None and config.retrain is not None:
        config = config_lib.override(config, {"retrain.data.data_dir": data_dir})
    return config_lib.override(config, overrides)


def prepare(name: str, workdir: str, overrides: Mapping[str, Any], *,
            strategy: str | None = None, data_dir: str | None = None,
            distribute_strategy: str | None = None, num_cpu_devices: int | None = None,
            trial_flags: Sequence[str] = (),
            stream: TextIO | None = sys.stdout) -> loop.WeightSharingSearch:
    """A checked ``WeightSharingSearch`` (see the module docstring); writes nothing."""
    given = [f"--{flag}" for flag in trial_flags]
    if given:
        instead = sorted({TRIAL_FLAGS.get(f, "?") for f in trial_flags})
        raise ValueError(f"{', '.join(given)} count(s) trials of a trial search and do(es) not "
                         f"apply to the weight-sharing experiment {name!r}; set "
                         f"{' or '.join(instead)} with --config_override instead")
    config = build_config(name, overrides, strategy=strategy, data_dir=data_dir,
                          distribute_strategy=distribute_strategy)
    if num_cpu_devices:
        distribute.configure_cpu_devices(num_cpu_devices)   # before any TensorFlow op
    return loop.WeightSharingSearch(config, workdir, stream=stream)


def report_only(workdir: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrites the report of a weight-sharing search directory; runs nothing."""
    if overrides:
        raise ValueError(f"--config_override {sorted(overrides)} does not apply to "
                         f"--report_only of a weight-sharing search")
    return loop.report_from_workdir(workdir)


__all__ = ["TRIAL_FLAGS", "build_config", "prepare", "report_only", "summary_lines"]
