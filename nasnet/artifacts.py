"""Where the pipeline's files are: every artifact name and directory layout, defined once.

The search, training runs, exports and the model zoo hand each other
directories. Every module that writes or reads one of these files takes its
name from here, so a layout changes in one place. Nothing here imports
TensorFlow.

Layouts (``<...>`` is a directory the user chooses)::

    <search workdir>/                 search_cifar (search.py)
        config.json, state.json, best.json, trials/000017.json, rungs/000017.json,
        tensorboard/, report/best_genotype.json
    <weight-sharing search workdir>/  search_cifar.weight_sharing (search.py --experiment=enas_*)
        config.json, checkpoints/{index.json, ckpt-*}, derive.json, retrain.json,
        tensorboard/, report/best_genotype.json
    <training workdir>/               transfer.trainer
        config.json, genotype.json, events.jsonl, metrics.json, tensorboard/,
        checkpoints/chief/ckpt-*, final/ckpt.*
    <export>/                         transfer.export, detection.export_lib
        saved_model/, genotype.json, config.json, metrics.json, export_info.json
        (+ label_map.json and params.yaml for a detector)
    <zoo>/<name>/                     model_zoo.registry: an export plus manifest.json

The zoo directory is ``$NASNET_ZOO_DIR``, else ``out/zoo`` under the
directory where the command was run (``bazel run`` sets
``BUILD_WORKING_DIRECTORY`` to it); it may be a URL (``gs://bucket/zoo``,
read and written through ``nasnet.filesystem``). ``zoo:NAME`` names a zoo entry wherever a
genotype or a checkpoint is expected.

Example:
    >>> import os
    >>> os.path.join("/runs/export", SAVED_MODEL_DIR)
    '/runs/export/saved_model'
    >>> zoo_entry_dir("/zoo", "digits_nasnet_a")
    '/zoo/digits_nasnet_a'
    >>> zoo_entry_dir("/zoo", "../escape")
    Traceback (most recent call last):
    ValueError: invalid zoo entry name '../escape': ...
"""

from __future__ import annotations

import os
import posixpath
import re

from nasnet import paths

# -- files of several kinds of directory ------------------------------------------
#: A Genotype (``nasnet.genotype.Genotype.save``): training runs, exports, zoo entries.
GENOTYPE_FILE = "genotype.json"
#: The config of a search, a training run or an exported model.
CONFIG_FILE = "config.json"
#: Final evaluation numbers of a training run, an export or an evaluation job.
METRICS_FILE = "metrics.json"
#: TensorBoard summaries of a search or a training run.
TENSORBOARD_DIR = "tensorboard"

# -- a search work directory --------------------------------------------------------
#: The search's report directory and, inside it, the best genotype.
SEARCH_REPORT_DIR = "report"
BEST_GENOTYPE_FILE = "best_genotype.json"
#: The running top-k of a search, rewritten after every trial:
#: ``{"top": [{"rank", "reward", "genotype"}, ...]}``.
SEARCH_BEST_FILE = "best.json"
#: One JSON record per finished trial: ``trials/000017.json``.
TRIALS_DIR = "trials"
#: The strategy's state, rewritten after every ask and tell.
SEARCH_STATE_FILE = "state.json"
#: The rung history of each child still running under early stopping: ``rungs/000017.json``.
RUNGS_DIR = "rungs"

# -- a weight-sharing search work directory (search_cifar.weight_sharing) ---------------
#: What commits a supernet checkpoint (``checkpoints/index.json``): the search's position,
#: the strategy's state and the history, naming the ``ckpt-<n>`` weights it goes with.
SUPERNET_CHECKPOINT_INDEX = "index.json"
#: The derivation: every distinct sampled cell with its shared-weight accuracy, best first.
DERIVED_CANDIDATES_FILE = "derive.json"
#: The derived cell retrained from scratch: reward, error, metrics and seconds.
RETRAIN_FILE = "retrain.json"

# -- a training work directory --------------------------------------------------------
#: Preemption checkpoints (Keras ``BackupAndRestore`` writes them under ``chief/``).
CHECKPOINT_DIR = "checkpoints"
CHIEF_CHECKPOINT_DIR = os.path.join(CHECKPOINT_DIR, "chief")
#: The final weights: ``final/ckpt.index`` and its data files.
FINAL_DIR = "final"
FINAL_CHECKPOINT_PREFIX = "ckpt"
#: One JSON object per line: start, train_begin, checkpoint, loop, end.
EVENTS_FILE = "events.jsonl"

# -- an export (and a zoo entry) ------------------------------------------------------
#: The SavedModel directory of an export.
SAVED_MODEL_DIR = "saved_model"
#: ``nasnet.export_info.ExportInfo``: what the zoo records about an export.
EXPORT_INFO_FILE = "export_info.json"
#: A detector's ``{category id: name}``.
LABEL_MAP_FILE = "label_map.json"
#: A zoo entry's checksummed record (``model_zoo.registry.Manifest``).
MANIFEST_FILE = "manifest.json"

# -- the model zoo ----------------------------------------------------------------------
ZOO_DIR_ENV = "NASNET_ZOO_DIR"
#: ``zoo:NAME`` names a zoo entry (or a published architecture) as a source.
ZOO_PREFIX = "zoo:"
_ZOO_ENTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def default_zoo_dir() -> str:
    """``$NASNET_ZOO_DIR``, else ``out/zoo`` under the caller's working directory
    (``bazel run``'s ``BUILD_WORKING_DIRECTORY`` when set)."""
    if os.environ.get(ZOO_DIR_ENV):
        return paths.user_path(os.environ[ZOO_DIR_ENV])
    return os.path.join(paths.caller_directory(), "out", "zoo")


def is_zoo_entry_name(name: object) -> bool:
    """Letters, digits, ``.``, ``_``, ``-``; starts alphanumeric; at most 100 characters."""
    return isinstance(name, str) and _ZOO_ENTRY_NAME.fullmatch(name) is not None


def check_zoo_entry_name(name: object) -> str:
    """``name`` when it is a valid zoo entry name; ValueError otherwise."""
    if not is_zoo_entry_name(name):
        raise ValueError(f"invalid zoo entry name {name!r}: use letters, digits, '.', '_' and "
                         f"'-', starting with a letter or digit (at most 100 characters)")
    return name  # type: ignore[return-value]


def zoo_entry_dir(zoo_dir: str | None, name: str) -> str:
    """The directory of zoo entry ``name`` (``default_zoo_dir()`` when ``zoo_dir`` is None)."""
    root = paths.user_path(zoo_dir) if zoo_dir else default_zoo_dir()
    return posixpath.join(root, check_zoo_entry_name(name))


def path_inside(directory: str, relpath: str) -> str:
    """The real path of ``relpath`` in ``directory``; ValueError when it leads outside
    (``..``, an absolute path, or a symbolic link pointing out). In a URL (an object
    store has no links) ``relpath`` must simply be relative without ``..``."""
    if paths.is_url(directory):
        parts = relpath.split("/")
        if relpath.startswith("/") or ".." in parts or "://" in relpath:
            raise ValueError(f"file {relpath!r} leads outside the entry directory "
                             f"{directory!r}: refused")
        return posixpath.join(directory.rstrip("/"), relpath)
    root = os.path.realpath(directory)
    full = os.path.realpath(os.path.join(root, relpath))
    if os.path.commonpath([root, full]) != root:
        raise ValueError(f"file {relpath!r} resolves to {full!r}, outside the entry directory "
                         f"{root!r} (a symbolic link?): refused")
    return full
