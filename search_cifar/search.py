"""The search binary: flags -> SearchConfig -> experiments.run_experiment.

    bazel run //search_cifar:search -- --experiment=quickstart --workdir=$PWD/out/quickstart
    python search_cifar/search.py --experiment=synthetic --workdir=/tmp/s --budget=20
    python search_cifar/search.py --experiment=enas_quickstart --workdir=out/enas_quickstart
    bazel run //search_cifar:search -- --experiment=nasnet_cifar10 --workdir=... \\
        --ray_address=auto --data_dir=/data/tfds
    bazel run //search_cifar:search -- --workdir=$PWD/out/quickstart --report_only

Flags override the experiment's settings; ``--config_override=key=value``
(repeatable) changes any other field by dotted key (``child.epochs=2``,
``strategy_options.population_size=20``, ``space.num_blocks=2``) and rejects
unknown keys. Run again with the same ``--workdir`` to resume a killed search.
Bad flags, a ``--workdir`` that cannot be written, and a workdir whose files
cannot be read (config.json, state.json, trials/) print one line on stderr
and exit 2 without writing anything. Ctrl-C stops the search (running
children are abandoned and run again on resume) and exits 130 with one line.

TensorFlow in this process (the strategy, dataset checks) sees no GPU, unless
the children train here (``--workers=0``) on a machine with GPUs; each child
on Ray sees only the GPUs it asked for (``search_cifar/devices.py``).

The weight-sharing experiments (``enas_cifar10``, ``enas_quickstart``) run
``search_cifar/weight_sharing`` instead (``weight_sharing/command.py``): the
same work directory, report, resume and ``--report_only``; their overrides are
keys of ``weight_sharing.config.WeightSharingConfig``.
"""

from __future__ import annotations

import json
import os
import sys

if __package__ in (None, ""):  # `python search_cifar/search.py`: the repository root goes first
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import flags  # noqa: E402

from nasnet import cli  # noqa: E402 -- no TensorFlow
from search_cifar import devices  # noqa: E402 -- no TensorFlow
from search_cifar import strategies  # noqa: E402 -- the registry of names; imports no strategy

FLAGS = flags.FLAGS
flags.DEFINE_string("experiment", "quickstart", "A named experiment (see search_cifar/"
                    "experiments.py): quickstart, quickstart_rl, quickstart_asha, nasnet_cifar10, "
                    "amoebanet_cifar10, small_cifar10, synthetic, synthetic_asha; weight sharing "
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
        overrides["child.data.data_dir"] = cli.user_path(FLAGS.data_dir)
    for text in FLAGS.config_override:
        key, value = experiments.parse_override(text)
        overrides[key] = value
    return experiments.apply_overrides(config, overrides)


def _print_summary(out, config, workdir: str) -> None:
    s = out["summary"]

    rel = cli.display_path  # relative to where the user ran the command, if below it

    print()
    if "seconds" in out:
        minutes, seconds = divmod(int(round(out["seconds"])), 60)
        print(f"search {config.name!r} done in {minutes}m{seconds:02d}s: "
              f"{s['num_evaluated']} children evaluated ({s['num_ok']} ok, {s['num_failed']} "
              f"failed), {s['num_duplicates']} duplicate proposals")
    if s.get("reward"):
        print(f"reward: {s['reward']}")
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
        if s.get("child_epochs_saved") is not None:
            print(f"early stopping: {s['num_stopped_early']} of {s['num_evaluated']} children "
                  f"stopped early; {s['child_epochs']} child-epochs trained, "
                  f"{s['child_epochs_saved']} of {s['child_epochs_if_full']} saved "
                  f"({100 * (s['child_epochs_saved_fraction'] or 0):.0f}%)")
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
    if "pareto_plot" in out:
        print(f"  Pareto front        {rel(out['pareto_plot'])}, {rel(out['pareto_table'])}")
    print(f"  top-{config.top_k} table         {rel(out['top_k'])}")
    print(f"  best so far         {rel(os.path.join(workdir, 'best.json'))}")
    print(f"  trial records       {rel(os.path.join(workdir, 'trials'))}/")
    if config.tensorboard:
        print(f"  TensorBoard         tensorboard --logdir {rel(os.path.join(workdir, 'tensorboard'))}")


def _trials_in_process_requested() -> bool:
    """Whether the flags ask for children trained in this process (``workers`` = 0)."""
    in_process = FLAGS.workers == 0
    for text in FLAGS.config_override:  # applied after --workers, the last one wins
        key, sep, value = text.partition("=")
        if sep and key.strip() == "workers":
            in_process = value.strip() == "0"
    return in_process and not FLAGS.report_only


def _weight_sharing_main(workdir: str, experiments) -> int:
    """``--experiment=enas_*``, or ``--report_only`` of such a workdir (weight_sharing/command.py)."""
    from absl import logging  # noqa: PLC0415

    from search_cifar.weight_sharing import command  # noqa: PLC0415

    if not FLAGS["verbosity"].present:  # TF logs every checkpoint save at INFO
        logging.set_verbosity(logging.WARNING)
    overrides = dict(map(experiments.parse_override, FLAGS.config_override))
    if FLAGS.report_only:
        summary = command.report_only(workdir, overrides)
    else:
        search = command.prepare(
            FLAGS.experiment, workdir, overrides, strategy=FLAGS.strategy,
            data_dir=cli.user_path(FLAGS.data_dir) if FLAGS.data_dir else None,
            distribute_strategy=FLAGS.distribute_strategy,
            num_cpu_devices=FLAGS.num_cpu_devices,
            trial_flags=[f for f in command.TRIAL_FLAGS if getattr(FLAGS, f) is not None])
        summary = search.run()
    print("\n".join(command.summary_lines(summary, workdir)))
    return 0


def main(argv: list[str]) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Records and state are written atomically after every event, and the
        # executor was closed on the way out (its Ray with it).
        raise cli.Interrupted("interrupted; run the same command to resume") from None


def _main(argv: list[str]) -> int:
    del argv  # no positional arguments (cli.run refuses them)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    devices.hide_gpus_from_this_process(_trials_in_process_requested())
    from search_cifar import experiments, trial_store  # TensorFlow: after the above

    from search_cifar.weight_sharing import config as ws_config  # noqa: PLC0415
    from search_cifar.weight_sharing import loop as ws_loop  # noqa: PLC0415

    if not FLAGS.workdir:
        raise cli.UsageError("--workdir is required")
    workdir = cli.user_path(FLAGS.workdir)
    if cli.is_url(workdir):
        raise cli.UsageError(
            f"--workdir={workdir}: a search's work directory must be on a local or mounted "
            f"file system (records and state are replaced by atomic renames after every "
            f"trial); URLs such as gs:// are for training runs, exports and the model zoo")
    # Everything that can be wrong is found before the first write (ValueError: exit 2).
    known = experiments.names() + ws_config.names()
    if not FLAGS.report_only and FLAGS.experiment not in known:
        raise cli.UsageError(f"unknown experiment {FLAGS.experiment!r}; known: {sorted(known)}")
    if (ws_loop.is_workdir(workdir) if FLAGS.report_only
            else FLAGS.experiment in ws_config.names()):
        return _weight_sharing_main(workdir, experiments)
    if FLAGS.distribute_strategy is not None or FLAGS.num_cpu_devices is not None:
        raise cli.UsageError("--distribute_strategy and --num_cpu_devices apply to the "
                             "weight-sharing experiments only (enas_*)")
    if FLAGS.report_only:
        config = experiments.load_workdir_config(workdir)
        config = experiments.apply_overrides(
            config, dict(map(experiments.parse_override, FLAGS.config_override)))
        experiments.check_workdir(workdir)
        trials = [t for _, t in sorted(trial_store.load_trials(workdir).items())]
        out = experiments.write_report(config, workdir, trials)
        _print_summary(out, config, workdir)
        return 0
    config = _config_from_flags(experiments)
    experiments.validate(config, workdir)  # strategy options, data, a resumed workdir
    executor = experiments.make_executor(config)  # e.g. a cluster without the GPUs asked
    try:
        out = experiments.run_experiment(config, workdir, executor=executor)
    finally:
        executor.close()
    _print_summary(out, config, workdir)
    return 0


def run() -> None:
    cli.run(main, "search")


if __name__ == "__main__":
    run()
