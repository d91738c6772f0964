"""The model zoo command line: the ``//model_zoo:zoo`` binary.

    zoo list                                   entries, then published architectures
    zoo show NAME                              an entry's manifest (or an architecture)
    zoo verify NAME [NAME ...] | --all         checksums, load, one prediction
    zoo add NAME --export_dir=DIR              register an export directory (copied)
    zoo export NAME --workdir=DIR              export a training run into the zoo
    zoo export NAME --checkpoint=PREFIX        ... or one of its checkpoints
    zoo remove NAME
    zoo classify NAME IMAGE [IMAGE ...]        top-k classes of image files (JPEG/PNG)

``--zoo_dir`` (default ``$NASNET_ZOO_DIR``, else ``out/zoo``) selects the zoo.
Exit status (``nasnet.cli``): 0 on success; 1 when an operation fails (an
entry fails verification); 2 for a malformed command line or bad input (an
unknown name, a bad manifest, a file that is not an image, ...), with one line
on stderr.

    bazel run //model_zoo:zoo -- export digits_nasnet_a --workdir=out/digits
    bazel run //model_zoo:zoo -- verify digits_nasnet_a
    bazel run //model_zoo:zoo -- classify digits_nasnet_a out/seven.png
"""

from __future__ import annotations

import json
import os
import sys

if __package__ in (None, ""):  # `python model_zoo/zoo.py`: the repository root goes first
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import flags

from nasnet import cli

FLAGS = flags.FLAGS

flags.DEFINE_string("zoo_dir", None, "the zoo directory (default $NASNET_ZOO_DIR or out/zoo)")
flags.DEFINE_string("export_dir", None, "add: the export directory to register")
flags.DEFINE_string("workdir", None, "export: the training work directory")
flags.DEFINE_string("checkpoint", None, "export: a checkpoint prefix of a training run")
flags.DEFINE_boolean("overwrite", False, "add / export: replace an existing entry")
flags.DEFINE_boolean("all", False, "verify: every entry")
flags.DEFINE_boolean("predict", True, "verify: also load the SavedModel and predict once")
flags.DEFINE_boolean("mult_adds", True, "export: count mult-adds (traces the model once more)")
flags.DEFINE_boolean("json", False, "list / show / classify: print JSON")

COMMANDS = ("list", "show", "verify", "add", "export", "remove", "classify")


def _fmt_int(value) -> str:
    if value is None:
        return "-"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f}{unit}"
    return str(value)


def _args(argv: list[str], command: str, at_least: int, at_most: int | None) -> list[str]:
    args = argv[2:]
    if len(args) < at_least or (at_most is not None and len(args) > at_most):
        want = f"{at_least}" if at_most == at_least else f"{at_least}..{at_most or 'n'}"
        raise cli.UsageError(f"'{command}' takes {want} argument(s), got {args}")
    return args


def cmd_list(zoo, argv) -> int:
    _args(argv, "list", 0, 0)
    rows = zoo.list()
    if FLAGS.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    print(f"zoo {zoo.root}")
    print(f"{'name':28} {'kind':14} {'task':14} {'size':8} {'params':>8} {'mult-adds':>9} "
          f"{'top1':>6}  fingerprint (or design)")
    for r in rows:
        if "error" in r:
            print(f"{r['name']:28} {'model':14} BROKEN: {r['error']}")
            continue
        top1 = (r.get("metrics") or {}).get("top1")
        print(f"{r['name']:28} {r['kind'] + ('' if r['weights'] else '*'):14} {r['task']:14} "
              f"{r.get('size') or '-':8} {_fmt_int(r.get('parameters')):>8} "
              f"{_fmt_int(r.get('mult_adds')):>9} "
              f"{'-' if top1 is None else f'{top1:.3f}':>6}  "
              f"{r['genotype_fingerprint'] or r.get('design') or '-'}")
    print("* published architecture: a genotype without weights (train it, then add it)")
    return 0


def cmd_show(zoo, argv) -> int:
    (name,) = _args(argv, "show", 1, 1)
    print(json.dumps(zoo.show(name), indent=2, sort_keys=True))
    return 0


def cmd_verify(zoo, argv) -> int:
    names = zoo.names() if FLAGS.all else _args(argv, "verify", 1, None)
    if FLAGS.all and len(argv) > 2:
        raise cli.UsageError("verify takes names or --all, not both")
    if not names:
        print(f"zoo {zoo.root} has no entries to verify")
        return 0
    for name in names:  # an unknown name is bad input (exit 2), a damaged entry a finding (1)
        if not os.path.isdir(zoo.entry_dir(name)):
            zoo.manifest(name)  # raises the zoo's "no zoo entry" error
    failed = 0
    for name in names:
        report = zoo.verify(name, run_prediction=FLAGS.predict)
        print(report.summary(), file=sys.stdout if report.ok else sys.stderr)
        failed += not report.ok
    return cli.EXIT_FAILED if failed else cli.EXIT_OK


def cmd_add(zoo, argv) -> int:
    (name,) = _args(argv, "add", 1, 1)
    if not FLAGS.export_dir:
        raise cli.UsageError("add needs --export_dir=DIR (an export directory)")
    manifest = zoo.add(cli.user_path(FLAGS.export_dir), name, overwrite=FLAGS.overwrite)
    print(f"added {name}: {len(manifest.files)} files, {manifest.task}, "
          f"{manifest.architecture} ({manifest.genotype_fingerprint or manifest.design}) in "
          f"{zoo.entry_dir(name)}")
    return 0


def cmd_export(zoo, argv) -> int:
    (name,) = _args(argv, "export", 1, 1)
    if bool(FLAGS.workdir) == bool(FLAGS.checkpoint):
        raise cli.UsageError("export needs exactly one of --workdir=DIR or --checkpoint=PREFIX")
    from model_zoo import registry
    from nasnet import filesystem, io_utils
    from transfer import export

    registry.check_name(name)
    if name in registry.known_genotypes.KNOWN:
        raise registry.ZooError(f"{name!r} is the name of a published architecture; choose "
                                f"another entry name")
    if filesystem.exists(zoo.entry_dir(name)) and not FLAGS.overwrite:
        raise registry.ZooError(f"zoo entry {name!r} already exists in {zoo.root} "
                                f"(--overwrite replaces it)")
    filesystem.makedirs(zoo.root)
    staging = io_utils.temporary_sibling(zoo.entry_dir(name), "tmp")  # a kill: cleaned later
    try:
        if FLAGS.workdir:
            export.export_from_workdir(cli.user_path(FLAGS.workdir), staging,
                                       count_mult_adds=FLAGS.mult_adds)
        else:
            export.export_from_checkpoint(cli.user_path(FLAGS.checkpoint), staging,
                                          count_mult_adds=FLAGS.mult_adds)
        manifest = zoo.add(staging, name, overwrite=FLAGS.overwrite, move=True)
    finally:
        if filesystem.exists(staging):
            filesystem.remove(staging)
    print(f"exported {name}: {manifest.architecture} {manifest.size or ''} "
          f"({manifest.genotype_fingerprint or manifest.design}), "
          f"{_fmt_int(manifest.parameters)} parameters, "
          f"top-1 {manifest.metrics.get('top1')}, in {zoo.entry_dir(name)}")
    return 0


def cmd_remove(zoo, argv) -> int:
    (name,) = _args(argv, "remove", 1, 1)
    zoo.remove(name)
    print(f"removed {name}")
    return 0


def cmd_classify(zoo, argv) -> int:
    args = _args(argv, "classify", 2, None)
    name, images = args[0], [cli.user_path(p) for p in args[1:]]
    results = zoo.load(name).classify_files(images)
    if FLAGS.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        top = ", ".join(f"{c} ({p:.3f})" for c, p in zip(r["top_k_classes"],
                                                         r["top_k_probabilities"]))
        print(f"{r['path']}: {top}")
    return 0


def main(argv: list[str]) -> int:
    from model_zoo import registry

    if len(argv) < 2 or argv[1] not in COMMANDS:
        got = argv[1] if len(argv) > 1 else "nothing"
        raise cli.UsageError(f"expected a command of {list(COMMANDS)}, got {got!r} "
                             f"(zoo --help lists them)")
    zoo = registry.Zoo(cli.user_path(FLAGS.zoo_dir))
    return globals()[f"cmd_{argv[1]}"](zoo, argv)


def run() -> None:
    cli.run(main, "zoo", positional=True)


if __name__ == "__main__":
    run()
