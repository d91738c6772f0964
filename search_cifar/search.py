"""The search binary: flags -> SearchConfig -> experiments.run_experiment.

    bazel run //search_cifar:search -- --experiment=quickstart --workdir=$PWD/out/quickstart
    python search_cifar/search.py --experiment=synthetic --workdir=/tmp/s --budget=20
    bazel run //search_cifar:search -- --experiment=nasnet_cifar10 --workdir=... \\
        --ray_address=auto --data_dir=/data/tfds
    bazel run //search_cifar:search -- --workdir=$PWD/out/quickstart --report_only
    python search_cifar/search.py --experiment=enas_quickstart --workdir=out/enas_quickstart

Flags override the experiment's settings; ``--config_override=key=value``
(repeatable) changes any other field by dotted key (``child.epochs=2``,
``strategy_options.population_size=20``, ``space.num_blocks=2``) and rejects
unknown keys. Run again with the same ``--workdir`` to resume a killed search.
Bad flags print one line on stderr and exit 2 without writing anything.

The weight-sharing experiments (``enas_cifar10``, ``enas_quickstart``) run
``search_cifar/weight_sharing`` instead (``weight_sharing/command.py``): the
same work directory, report, resume and ``--report_only``; their overrides are
keys of ``weight_sharing.config.WeightSharingConfig``.
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

if __package__ in (None, ""):  # `python search_cifar/search.py`: make the project importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from search_cifar import strategies  # noqa: E402 -- the registry of names; imports no strategy

FLAGS = flags.FLAGS
flags.DEFINE_string("experiment", "quickstart", "A named experiment (see search_cifar/"
                    "experiments.py): quickstart, quickstart_rl, nasnet_cifar10, "
                    "amoebanet_cifar10, small_cifar10, synthetic; weight sharing "
                    "(search_cifar/weight_sharing/config.py): enas_cifar10, enas_quickstart.")
flags.DEFINE_string("workdir", None, "Trial records, state, TensorBoard and the report go here; "
                    "the same workdir resumes a search.")
flags.DEFINE_integer("workers", None, "Concurrent trials (default: the experiment's; with "
                     "--ray_address: as many as the cluster holds). 0 = in this process, one "
                     "at a time, with Keras progress bars.")
flags.DEFINE_string("ray_address", None, "Join this Ray cluster (auto, host:6379, "
                    "ray://host:10001) instead of starting a local one.")
flags.DEFINE_float("cpus_per_trial", None, "CPUs each trial requests from Ray.")
flags.DEFINE_float("gpus_per_trial", None, "GPUs each trial requests from Ray.")
flags.DEFINE_integer("budget", None, "Children to evaluate in total (over all resumptions).")
flags.DEFINE_string("strategy", None, f"Search strategy: {', '.join(strategies.names())} "
                    "(another strategy than the experiment's drops its options).")
flags.DEFINE_string("data_dir", None, "Directory of prepared tfds datasets (child.data.data_dir).")
flags.DEFINE_multi_string("config_override", [], "key=value on the SearchConfig, repeatable.")
flags.DEFINE_string("distribute_strategy", None, "Weight-sharing experiments only: the "
                    "supernet's tf.distribute strategy (one_device, mirrored, "
                    "multi_worker_mirrored with TF_CONFIG), as transfer's --strategy.")
flags.DEFINE_integer("num_cpu_devices", None, "Weight-sharing experiments only: split the CPU "
                     "into this many logical devices (mirrored on a CPU).")
flags.DEFINE_bool("report_only", False, "Only regenerate the report (pictures, plot, table) "
                  "of --workdir's trials; runs nothing.")


class UsageError(ValueError):
    pass


def _abspath(path: str) -> str:
    """Relative to where the user ran the command (``bazel run`` changes directory)."""
    base = os.environ.get("BUILD_WORKING_DIRECTORY", os.getcwd())
    return os.path.abspath(os.path.join(base, os.path.expanduser(path)))


def _config_from_flags(experiments):
    config = experiments.get(FLAGS.experiment)
    overrides = {}
    if FLAGS.strategy is not None and FLAGS.strategy != config.strategy:
        overrides["strategy"] = FLAGS.strategy
        overrides["strategy_options"] = {}
    for name in ("budget", "ray_address", "cpus_per_trial", "gpus_per_trial", "workers"):
        value = getattr(FLAGS, name)
        if value is not None:
            overrides[name] = value
    if FLAGS.ray_address is not None and FLAGS.workers is None:
        overrides["workers"] = None  # the whole cluster
    if FLAGS.data_dir is not None:
        overrides["child.data.data_dir"] = _abspath(FLAGS.data_dir)
    for text in FLAGS.config_override:
        key, value = experiments.parse_override(text)
        overrides[key] = value
    return experiments.apply_overrides(config, overrides)


def _print_summary(out, config, workdir: str) -> None:
    s = out["summary"]

    def rel(path: str) -> str:  # relative to where the user ran the command, if below it
        short = os.path.relpath(path, os.environ.get("BUILD_WORKING_DIRECTORY", os.getcwd()))
        return path if short.startswith("..") else short

    print()
    if "seconds" in out:
        minutes, seconds = divmod(int(round(out["seconds"])), 60)
        print(f"search {config.name!r} done in {minutes}m{seconds:02d}s: "
              f"{s['num_evaluated']} children evaluated ({s['num_ok']} ok, {s['num_failed']} "
              f"failed), {s['num_duplicates']} duplicate proposals")
    if s["best_reward"] is None:
        print("no child finished successfully; see the errors in trials/*.json")
    else:
        print(f"best: trial {s['best_trial']}, reward {s['best_reward']:.4f}, "
              f"fingerprint {s['best_fingerprint']}")
        if s["random_mean_reward"] is not None:
            which = ("all proposals" if s["num_random"] is None
                     else f"the {s['random_count']} random initial proposals")
            print(f"mean reward of {which}: {s['random_mean_reward']:.4f}")
        if s["later_mean_reward"] is not None:
            print(f"mean reward of the strategy's {s['later_count']} later proposals: "
                  f"{s['later_mean_reward']:.4f}")
        if s["mean_trial_seconds"] is not None and s["mean_trial_cpu_seconds"] is not None:
            print(f"per child: {s['mean_trial_seconds']:.1f} s wall, "
                  f"{s['mean_trial_cpu_seconds']:.1f} s CPU on average")
    print()
    with open(out["top_k"], encoding="utf-8") as f:
        print(f.read())
    if "best_genotype" in out:
        with open(out["best_genotype"], encoding="utf-8") as f:
            text = json.dumps(json.load(f), sort_keys=True)
        print(f"best genotype ({rel(out['best_genotype'])}):\n{text}\n")
    print("files:")
    if "best_cell" in out:
        print(f"  best cell pictures  {', '.join(rel(p) for p in out['best_cell'] if p.endswith('.png'))}")
    print(f"  reward plot         {rel(out['rewards_plot'])}")
    print(f"  top-{config.top_k} table         {rel(out['top_k'])}")
    print(f"  best so far         {rel(os.path.join(workdir, 'best.json'))}")
    print(f"  trial records       {rel(os.path.join(workdir, 'trials'))}/")
    if config.tensorboard:
        print(f"  TensorBoard         tensorboard --logdir {rel(os.path.join(workdir, 'tensorboard'))}")


def _weight_sharing_main(workdir: str, experiments) -> int:
    """``--experiment=enas_*``, or ``--report_only`` of such a workdir (weight_sharing/command.py)."""
    from absl import logging  # noqa: PLC0415

    from search_cifar.weight_sharing import command  # noqa: PLC0415

    if not FLAGS["verbosity"].present:  # TF logs every checkpoint save at INFO
        logging.set_verbosity(logging.WARNING)
    try:
        overrides = dict(map(experiments.parse_override, FLAGS.config_override))
        if FLAGS.report_only:
            summary = command.report_only(workdir, overrides)
        else:
            search = command.prepare(
                FLAGS.experiment, workdir, overrides, strategy=FLAGS.strategy,
                data_dir=_abspath(FLAGS.data_dir) if FLAGS.data_dir else None,
                distribute_strategy=FLAGS.distribute_strategy,
                num_cpu_devices=FLAGS.num_cpu_devices,
                trial_flags=[f for f in command.TRIAL_FLAGS if getattr(FLAGS, f) is not None])
    except ValueError as e:
        print(f"search: error: {e}", file=sys.stderr)
        return 2
    if not FLAGS.report_only:
        summary = search.run()
    print("\n".join(command.summary_lines(summary, workdir)))
    return 0


def main(argv):
    if len(argv) > 1:
        print(f"search: error: unexpected arguments {argv[1:]}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from search_cifar import experiments  # TensorFlow: after flag parsing
    from search_cifar.weight_sharing import config as ws_config  # noqa: PLC0415
    from search_cifar.weight_sharing import loop as ws_loop  # noqa: PLC0415

    try:
        if not FLAGS.workdir:
            raise UsageError("--workdir is required")
        workdir = _abspath(FLAGS.workdir)
        known = experiments.names() + ws_config.names()
        if not FLAGS.report_only and FLAGS.experiment not in known:
            raise UsageError(f"unknown experiment {FLAGS.experiment!r}; known: {sorted(known)}")
        if (ws_loop.is_workdir(workdir) if FLAGS.report_only
                else FLAGS.experiment in ws_config.names()):
            return _weight_sharing_main(workdir, experiments)
        if FLAGS.distribute_strategy is not None or FLAGS.num_cpu_devices is not None:
            raise UsageError("--distribute_strategy and --num_cpu_devices apply to the "
                             "weight-sharing experiments only (enas_*)")
        if FLAGS.report_only:
            config = experiments.load_workdir_config(workdir)
            config = experiments.apply_overrides(
                config, dict(map(experiments.parse_override, FLAGS.config_override)))
        else:
            config = _config_from_flags(experiments)
            experiments.validate(config, workdir)  # strategy options, data, a resumed workdir
    except ValueError as e:
        print(f"search: error: {e}", file=sys.stderr)
        return 2
    if FLAGS.report_only:
        out = experiments.write_report(config, workdir)
        _print_summary(out, config, workdir)
        return 0
    out = experiments.run_experiment(config, workdir)
    _print_summary(out, config, workdir)
    return 0


def run() -> None:
    from nasnet import cli  # noqa: PLC0415

    cli.run(main, "search", positional=True)


if __name__ == "__main__":
    run()
