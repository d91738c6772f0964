"""Every child of a search in TensorBoard's HParams dashboard: decisions, fidelity, accuracy, cost.

TensorBoard's HParams plugin shows one row per session in its table and one
line per session in its parallel-coordinates view, which is how users of
trial-based tuners compare trials. A search writes each evaluated child as a
session, under ``<workdir>/tensorboard/hparams/`` (so ``tensorboard --logdir
<workdir>/tensorboard`` shows it beside the search's scalars)::

    hparams/events.out.tfevents.*          the experiment: one hparam per decision of the
                                           space, with its domain, and the metrics below
    hparams/000017/events.out.tfevents.*   trial 17: its decisions (session start), its
                                           metrics at step 0, its status (session end)

Hparams are the space's decisions by name (``b0.normal.op_a``: the op's name,
``b0.normal.input_a``: the hidden-state index, ``combine``: add or concat;
``d<i>`` for a plain categorical space). Metrics (``METRICS``): ``reward``,
``accuracy``, ``mult_adds_M`` (mult-adds of the target network, millions),
``latency_ms``, ``epochs`` (the fidelity: epochs the child trained,
``metrics["epochs_completed"]``); a child has those it recorded. A failed
child is a session with status failure; duplicates are not sessions.

Written with the tensorboard package's own protos (``summary_v2.hparams_pb``,
``hparams_config_pb``) and record format, no TensorFlow; each file whole, with
an atomic rename. ``write_session`` adds one child (the search's ``Reporter``,
live); ``rewrite`` replaces the whole directory (the final report and
``--report_only``, whose ranking may differ).

Example:
    >>> rewrite("/tmp/search/tensorboard", trials, space)
    >>> # tensorboard --logdir /tmp/search/tensorboard  -> HParams tab
"""

from __future__ import annotations

import glob
import io
import os
import time
from typing import Any, Sequence

from nasnet import io_utils
from search_cifar.reward import ACCURACY, COST
from search_cifar.trial_store import Trial

SUBDIR = "hparams"
#: (tag, description) of the metrics every session may have.
METRICS = (("reward", "the reward the strategy was told"),
           ("accuracy", "the evaluator's reward before the cost term (validation accuracy)"),
           ("mult_adds_M", "mult-adds of the target network, millions"),
           ("latency_ms", "latency of the target network, measured (ms)"),
           ("epochs", "fidelity: epochs the child trained"))
_COMBINES = ("add", "concat")


def _decisions(space: Any) -> list[tuple[str, list[Any]]]:
    """``(name, values)`` per decision: op names, combine names, or the choice indices."""
    num_choices = list(space.num_choices)
    names = (space.decision_names() if hasattr(space, "decision_names")
             else [f"d{i}" for i in range(len(num_choices))])
    kinds = (space.decision_kinds() if hasattr(space, "decision_kinds")
             else ["choice"] * len(num_choices))
    out = []
    for name, kind, n in zip(names, kinds, num_choices):
        if kind == "op":
            values: list[Any] = [op.value for op in space.ops]
        elif kind == "combine":
            values = list(_COMBINES)
        else:
            values = list(range(n))
        out.append((name, values))
    return out


def hparam_values(trial: Trial, space: Any) -> dict[str, Any]:
    """A trial's decisions by name (only the ones its choices have: a progressive
    strategy's smaller cells have fewer)."""
    return {name: values[c] for (name, values), c in zip(_decisions(space), trial.choices)}


def metric_values(trial: Trial) -> dict[str, float]:
    """The ``METRICS`` a trial recorded."""
    metrics = trial.metrics or {}
    cost = metrics.get(COST) or {}
    out = {"reward": trial.reward, "accuracy": metrics.get(ACCURACY),
           "mult_adds_M": cost["mult_adds"] / 1e6 if "mult_adds" in cost else None,
           "latency_ms": cost.get("latency_ms"), "epochs": metrics.get("epochs_completed")}
    return {k: float(v) for k, v in out.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _event_file(directory: str, summaries: Sequence[Any], wall_time: float) -> str:
    """Writes ``summaries`` (step 0) as one whole event file in ``directory``."""
    from tensorboard.compat.proto import event_pb2  # noqa: PLC0415
    from tensorboard.summary.writer.record_writer import RecordWriter  # noqa: PLC0415

    buf = io.BytesIO()
    writer = RecordWriter(buf)
    writer.write(event_pb2.Event(wall_time=wall_time, file_version="brain.Event:2")
                 .SerializeToString())
    for summary in summaries:
        writer.write(event_pb2.Event(wall_time=wall_time, step=0, summary=summary)
                     .SerializeToString())
    path = os.path.join(directory, f"events.out.tfevents.{int(wall_time):010d}.hparams")
    os.makedirs(directory, exist_ok=True)
    for old in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        if old != path:
            os.remove(old)
    io_utils.atomic_write_bytes(path, buf.getvalue())
    return path


def experiment_summary(space: Any) -> Any:
    """The experiment: one hparam per decision (with its discrete domain) and ``METRICS``."""
    from tensorboard.plugins.hparams import summary_v2  # noqa: PLC0415

    hparams = [summary_v2.HParam(name, summary_v2.Discrete(values))
               for name, values in _decisions(space)]
    metrics = [summary_v2.Metric(tag, description=text) for tag, text in METRICS]
    return summary_v2.hparams_config_pb(hparams, metrics, time_created_secs=time.time())


def session_summaries(trial: Trial, space: Any) -> list[Any]:
    """Session start (decisions), the metrics, session end (success or failure)."""
    from tensorboard.compat.proto import summary_pb2  # noqa: PLC0415
    from tensorboard.plugins.hparams import (  # noqa: PLC0415
        api_pb2, metadata, plugin_data_pb2, summary_v2)

    start_time = (trial.finished_at or time.time()) - (trial.duration or 0.0)
    start = summary_v2.hparams_pb(hparam_values(trial, space), trial_id=f"trial {trial.id}",
                                  start_time_secs=start_time)
    scalars = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=v)
                                         for tag, v in metric_values(trial).items()])
    status = api_pb2.STATUS_SUCCESS if trial.status == "ok" else api_pb2.STATUS_FAILURE
    end_info = plugin_data_pb2.SessionEndInfo(status=status,
                                              end_time_secs=trial.finished_at or time.time())
    end = summary_pb2.Summary()
    end.value.add(tag=metadata.SESSION_END_INFO_TAG, tensor=metadata.NULL_TENSOR,
                  metadata=metadata.create_summary_metadata(
                      plugin_data_pb2.HParamsPluginData(session_end_info=end_info)))
    return [start, scalars, end]


def write_session(logdir: str, trial: Trial, space: Any) -> str | None:
    """Adds one child under ``<logdir>/hparams/`` (and the experiment, when missing);
    returns the session's directory (None for a duplicate, which is no session)."""
    if trial.status == "duplicate":
        return None
    root = os.path.join(logdir, SUBDIR)
    if not glob.glob(os.path.join(root, "events.out.tfevents.*")):
        _event_file(root, [experiment_summary(space)], time.time())
    directory = os.path.join(root, f"{trial.id:06d}")
    _event_file(directory, session_summaries(trial, space), trial.finished_at or time.time())
    return directory


def rewrite(logdir: str, trials: Sequence[Trial], space: Any) -> str:
    """Replaces ``<logdir>/hparams/`` with the experiment and every evaluated child."""
    root = os.path.join(logdir, SUBDIR)
    os.makedirs(logdir, exist_ok=True)
    with io_utils.atomic_directory(root, overwrite=True) as tmp:
        _event_file(tmp, [experiment_summary(space)], time.time())
        for t in trials:
            if t.status != "duplicate":
                _event_file(os.path.join(tmp, f"{t.id:06d}"), session_summaries(t, space),
                            t.finished_at or time.time())
    return root
