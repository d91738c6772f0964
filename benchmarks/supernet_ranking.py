"""How well a finished weight-sharing search ranks cells: Kendall tau against stand-alone training.

Issue 12 asks for the Kendall tau between the supernet's estimate and
stand-alone accuracy over at least 20 cells. ``enas_vs_evolution.py`` measures
it on digits, where it cannot show anything: the cells' stand-alone spread
there equals the binomial noise of one accuracy on 300 images (README,
"Weight-sharing search"). This script measures it for any finished search,
``enas_cifar10`` on CIFAR-10 included, the protocol of Yu et al. 2020
("Evaluating the search phase of neural architecture search"):

1. ``--cells`` distinct uniform random cells of the search's space (seeded by
   ``--seed``; ``random_cells``);
2. the supernet's estimate of each: the finished search restored from its
   checkpoint, each cell scored on the whole validation split (or its first
   ``--validation_batches``) with the shared weights;
3. each cell trained from scratch by the search's ``retrain`` recipe (or the
   ``--child`` preset), ``--epochs`` epochs when given, seed ``--seed``, on the
   search's training split; scored on the validation split the supernet
   scored (the child's reward) and on the dataset's held-out test split
   (``test_pipeline``: CIFAR's 10,000 test images, digits' 300), which no
   search reads;
4. the search's derived cell (``report/best_genotype.json``) trained and
   scored the same way (first; ``--no-derived`` skips it), and where its
   stand-alone accuracy falls among the random cells': does the search find
   a better cell than chance (Yu et al. 2020's comparison)? It is not part of
   the correlations;
5. Kendall tau and Spearman rho (``scipy.stats``) of the estimates against
   both stand-alone accuracies, and the **noise floor**: the standard
   deviation of the stand-alone accuracies over the cells beside the binomial
   standard error of one accuracy on that many images. When the two are
   close, the cells do not differ by more than the evaluation's noise and no
   estimate can rank them; train longer or score on more images.

**Resumable**: ``<output_dir>/ranking.json`` is rewritten atomically after the
estimates and after every stand-alone training; run the same command again
after a kill and only the unfinished trainings run (the one interrupted is
repeated). A rerun with other arguments is refused, naming them. At the end
``ranking.md`` (the tables) and ``ranking.png`` (estimate against stand-alone
accuracy) are written beside it.

Cost: ``--cells`` child trainings, and one more for the derived cell. For
``enas_cifar10`` with its recipe (``nasnet_search``, 20 epochs) that is 420
child-epochs; ``--child=small --epochs=10`` is a cheaper first look. On
CIFAR-10 this needs a GPU::

    bazel run //search_cifar:search -- --experiment=enas_cifar10 --workdir=$PWD/out/enas
    python benchmarks/supernet_ranking.py --search_dir=out/enas --output_dir=out/ranking
    # on this CPU, a check on the quickstart:
    .venv/bin/python benchmarks/supernet_ranking.py --search_dir=out/enas_quickstart \\
        --output_dir=/tmp/ranking --cells=5 --epochs=1

Why not ``enas_vs_evolution.py``: that script runs its own digits searches
and retrains at several seeds; this one takes any finished search and only
ranks. It holds the shared pieces (``random_cells``, ``Retrainer``,
``TestScore``, ``test_pipeline``, ``supernet_scores``, ``kendall_tau``).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import statistics
import sys
import time
import warnings
from typing import Any, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from nasnet import artifacts, datasets, io_utils  # noqa: E402
from nasnet.genotype import Genotype  # noqa: E402
from search_cifar import child_config  # noqa: E402
from search_cifar import data as data_lib  # noqa: E402
from search_cifar.space import NasnetCellSpace  # noqa: E402
from search_cifar.strategies.base import new_rng, random_choices  # noqa: E402
from search_cifar.weight_sharing import config as ws_config  # noqa: E402

RANKING_JSON, RANKING_MD, RANKING_PNG = "ranking.json", "ranking.md", "ranking.png"
#: Data fields that decide which images form the training and validation splits.
SPLIT_FIELDS = ("dataset", "train_split", "validation_size", "split_seed", "train_limit")
#: ``random_cells`` gives up after this many draws in a row found no new cell.
MAX_REPEATED_DRAWS = 10_000
#: Below this ratio of the cells' spread to one accuracy's binomial error, the tables say
#: the cells do not differ beyond the noise [ours: a rough line, not a test].
NOISE_RATIO = 1.5


# -- the cells ------------------------------------------------------------------------------
def random_cells(space: NasnetCellSpace, count: int, seed: int) -> list[Genotype]:
    """``count`` distinct uniform random cells of ``space``, named ``random_<i>``.

    Seeded: the same ``(space, count, seed)`` gives the same cells in the same
    order, and a larger ``count`` extends a smaller one's list. ValueError when
    ``MAX_REPEATED_DRAWS`` draws in a row give no new cell (the space holds
    fewer than ``count`` distinct cells, or nearly all of them are drawn).
    """
    rng = new_rng(seed, 12)
    cells: dict[str, Genotype] = {}
    misses = 0
    while len(cells) < count:
        genotype = space.decode(random_choices(rng, space.num_choices))
        if genotype.fingerprint() in cells:
            misses += 1
            if misses == MAX_REPEATED_DRAWS:
                raise ValueError(f"the space holds fewer than {count} distinct cells "
                                 f"({len(cells)} found; {MAX_REPEATED_DRAWS:,} draws in a row "
                                 f"gave no new one)")
            continue
        misses = 0
        cells[genotype.fingerprint()] = genotype.with_name(f"random_{len(cells)}")
    return list(cells.values())


# -- stand-alone training, scored on the held-out test split ------------------------------
class TestScore(tf_keras.callbacks.Callback):
    """The trained child's accuracy on a held-out dataset, once training ends.

    ``dataset``: normalised ``(images [B, S, S, 3], labels [B])`` batches; the
    model's ``"logits"`` output at ``training=False`` is scored. ``accuracy``
    and ``examples`` are None until a training has ended (and are reset when
    the next begins).
    """

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset
        self.accuracy: float | None = None
        self.examples: int | None = None

    def on_train_begin(self, logs=None):
        self.accuracy = self.examples = None

    def on_train_end(self, logs=None):
        correct = total = 0
        for images, labels in self.dataset:
            logits = self.model(images, training=False)["logits"]
            predicted = np.argmax(logits.numpy(), axis=-1)
            correct += int(np.sum(predicted == labels.numpy()))
            total += int(labels.shape[0])
        self.accuracy, self.examples = correct / total, total


def test_pipeline(data: data_lib.DataConfig, sources: data_lib.Sources,
                  split: str = "test") -> tf.data.Dataset:
    """The dataset's held-out test split as ``data``'s validation pipeline.

    Digits: the 300 embedded test images (``nasnet.datasets.digits``); a tfds
    dataset: its ``split`` (CIFAR-10's 10,000 test images). Resized as the
    training images and normalised with the training set's statistics, in
    batches of ``data.eval_batch_size`` (or ``batch_size``).

    Raises ValueError for a tfds dataset without that split, and
    ``nasnet.datasets`` errors for one that is not prepared.
    """
    if data.is_digits:
        images, labels = datasets.digits(data.image_size, data.split_seed)["test"]
        held_out = tf.data.Dataset.from_tensor_slices((images, labels))
    else:
        info = datasets.tfds_info(data.dataset, data.data_dir)
        if info.split_sizes and split not in info.split_sizes:
            raise ValueError(f"dataset {data.dataset!r} has no {split!r} split to score on; "
                             f"its splits are {sorted(info.split_sizes)}")
        channels = info.image_shape[2]
        held_out = datasets.load_tfds(data.dataset, split, data.data_dir).map(
            lambda x, y: (data_lib.to_rgb_size(x, data.image_size, channels), y),
            num_parallel_calls=tf.data.AUTOTUNE)
    return data_lib.make_datasets(data, dataclasses.replace(sources, validation=held_out))[1]


class Retrainer:
    """A child recipe at several seeds; one ``ChildEvaluator`` per seed, reused.

    Each run records the validation accuracy (the child's reward, on the split
    the searches selected their cells on) and ``test_accuracy`` on the
    held-out test split (``test_pipeline``), which no search has read and so
    carries no selection bias.
    """

    def __init__(self, recipe: child_config.ChildConfig):
        from search_cifar.child_evaluator import ChildEvaluator  # noqa: PLC0415
        self.recipe = recipe
        self._make = ChildEvaluator
        self._evaluators: dict[int, tuple[Any, TestScore]] = {}
        self.cache: dict[tuple[str, int], dict[str, Any]] = {}

    def _evaluator(self, seed: int):
        if seed not in self._evaluators:
            config = dataclasses.replace(self.recipe, seed=seed)
            probe = self._make(config)
            score = TestScore(test_pipeline(config.data, probe.sources))
            probe.callbacks.append(score)
            self._evaluators[seed] = probe, score
        return self._evaluators[seed]

    def run(self, genotype: Genotype, seed: int) -> dict[str, Any]:
        """``{"seed", "accuracy", "test_accuracy", "test_examples", "cpu_seconds",
        "wall_seconds"}`` of one training (cached); RuntimeError when it fails."""
        key = (genotype.fingerprint(), seed)
        if key not in self.cache:
            evaluator, score = self._evaluator(seed)
            cpu, wall = time.process_time(), time.monotonic()
            result = evaluator.evaluate(genotype)
            if not result.ok:
                raise RuntimeError(f"retraining {genotype.fingerprint()} failed: {result.error}")
            self.cache[key] = {"seed": seed, "accuracy": result.reward,
                               "test_accuracy": score.accuracy, "test_examples": score.examples,
                               "cpu_seconds": time.process_time() - cpu,
                               "wall_seconds": time.monotonic() - wall}
        return self.cache[key]

    def mean(self, genotype: Genotype, seeds: int) -> dict[str, Any]:
        runs = [self.run(genotype, s) for s in range(seeds)]
        entry: dict[str, Any] = {"fingerprint": genotype.fingerprint(), "runs": runs}
        for prefix, key in (("", "accuracy"), ("test_", "test_accuracy")):
            values = [r[key] for r in runs]
            entry[f"{prefix}mean"] = statistics.fmean(values)
            entry[f"{prefix}sd"] = statistics.stdev(values) if len(values) > 1 else None
        return entry


# -- the supernet's side and the statistics --------------------------------------------------
def finished_search(search_dir: str):
    """The finished weight-sharing search of ``search_dir``, restored (nothing written).

    ValueError when ``search_dir`` holds no weight-sharing search or an unfinished one.
    """
    from search_cifar.weight_sharing import loop  # noqa: PLC0415
    search = loop.WeightSharingSearch(loop.load_workdir_config(search_dir), search_dir,
                                      stream=None)
    if search.state["phase"] != "done":
        raise ValueError(f"{search_dir}: the search is not finished (phase "
                         f"{search.state['phase']!r}); run it to the end first")
    return search


def supernet_scores(search_dir: str, cells: Sequence[Genotype],
                    validation_batches: int | None = None) -> list[float]:
    """Each cell's accuracy with the finished search's shared weights (the validation split)."""
    return finished_search(search_dir).scores(list(cells), validation_batches)


def kendall_tau(estimates: Sequence[float], standalone: Sequence[float]) -> dict[str, Any]:
    """``{"tau", "p_value", "n"}``; tau and p are NaN when either side is constant."""
    from scipy import stats  # noqa: PLC0415
    with warnings.catch_warnings():   # a constant side: NaN, said in the tables
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        result = stats.kendalltau(estimates, standalone)
    return {"tau": float(result.statistic), "p_value": float(result.pvalue), "n": len(estimates)}


def spearman_rho(estimates: Sequence[float], standalone: Sequence[float]) -> dict[str, Any]:
    """``{"rho", "p_value"}``; NaN when either side is constant."""
    from scipy import stats  # noqa: PLC0415
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        result = stats.spearmanr(estimates, standalone)
    return {"rho": float(result.statistic), "p_value": float(result.pvalue)}


def _correlation(value: float, p_value: float) -> str:
    if math.isnan(value):
        return "undefined (one side is constant)"
    return f"{value:+.3f} ({p_value:.3f})"


def noise_floor(accuracies: Sequence[float], examples: int) -> dict[str, float]:
    """The spread of the cells' accuracies against one accuracy's binomial noise.

    ``spread``: the sample standard deviation over the cells; ``binomial_se``:
    ``sqrt(p (1 - p) / examples)`` at their mean ``p``; ``ratio``: spread / se
    (inf when the se is 0). Near 1, the cells do not differ beyond the noise.
    """
    mean = statistics.fmean(accuracies)
    spread = statistics.stdev(accuracies)
    se = math.sqrt(mean * (1.0 - mean) / examples)
    return {"mean": mean, "spread": spread, "binomial_se": se, "examples": examples,
            "ratio": spread / se if se > 0 else math.inf}


def standing(value: float, others: Sequence[float]) -> dict[str, Any]:
    """How ``value`` compares with ``others``: ``{"above", "tied", "below", "n",
    "percentile"}``, the percentile counting a tie as half (0: below every
    other, 100: above every other)."""
    above = sum(value > o for o in others)
    tied = sum(value == o for o in others)
    return {"above": above, "tied": tied, "below": len(others) - above - tied,
            "n": len(others), "percentile": 100.0 * (above + 0.5 * tied) / len(others)}


def statistics_of(cells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Tau, rho and the noise floor on the test and validation splits of finished ``cells``
    (``{"supernet", "standalone": {"test_accuracy", "accuracy", "test_examples"}}``)."""
    estimates = [c["supernet"] for c in cells]
    out: dict[str, Any] = {"n": len(cells)}
    for split, key in (("test", "test_accuracy"), ("validation", "accuracy")):
        truth = [c["standalone"][key] for c in cells]
        out[split] = {**kendall_tau(estimates, truth),
                      "spearman": spearman_rho(estimates, truth)}
    out["test"]["noise"] = noise_floor([c["standalone"]["test_accuracy"] for c in cells],
                                       cells[0]["standalone"]["test_examples"])
    out["supernet_spread"] = statistics.stdev(estimates)
    return out


def derived_standing(derived: dict[str, Any], cells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The derived cell's ``standing`` among the random ``cells``: its supernet estimate and
    its stand-alone accuracies on the test and validation splits."""
    return {"supernet": standing(derived["supernet"], [c["supernet"] for c in cells]),
            **{split: standing(derived["standalone"][key],
                               [c["standalone"][key] for c in cells])
               for split, key in (("test", "test_accuracy"), ("validation", "accuracy"))}}


# -- the run ---------------------------------------------------------------------------------
#: ``inputs`` keys a rerun may change: the search's own execution fields, and those of
#: its ``retrain`` recipe on the stand-alone ``recipe`` (where the data lies, how a child logs).
EXECUTION_KEYS = tuple(f"search_config.{k}" for k in ws_config.EXECUTION_FIELDS) + tuple(
    f"recipe.{k.removeprefix('retrain.')}" for k in ws_config.EXECUTION_FIELDS
    if k.startswith("retrain."))


def resolve_recipe(search_config, child: str | None, epochs: int | None):
    """The stand-alone recipe: ``child``'s preset or the search's ``retrain``, with ``epochs``.

    ValueError when the search has no recipe and none is named, or when the
    recipe's data would cut another validation split than the one the
    supernet scored (``SPLIT_FIELDS``).
    """
    if child is not None:
        recipe = child_config.preset(child)
    elif search_config.retrain is not None:
        recipe = search_config.retrain
    else:
        raise ValueError("the search has no retrain recipe; name a child preset with --child "
                         f"(one of {sorted(child_config.PRESETS)})")
    if epochs is not None:
        recipe = dataclasses.replace(recipe, epochs=epochs)
    differ = {f: (getattr(recipe.data, f), getattr(search_config.data, f)) for f in SPLIT_FIELDS
              if getattr(recipe.data, f) != getattr(search_config.data, f)}
    if differ:
        raise ValueError(f"the recipe's data splits differently from the search's (recipe, "
                         f"search): {differ}; its validation split would not be the one the "
                         f"supernet scored")
    return recipe


def load_state(path: str, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The saved run of ``path`` when its inputs match ``inputs``; None when there is none.

    ValueError naming the keys when a saved run had other inputs, or the file
    is not one of this script's.
    """
    from nasnet import config_utils  # noqa: PLC0415
    if not os.path.exists(path):
        return None
    state = io_utils.read_json(path, "ranking state")
    if not isinstance(state, dict) or not isinstance(state.get("inputs"), dict):
        raise ValueError(f"{path} is not a ranking state of this script")
    changed = config_utils.changed_keys(state["inputs"], inputs, ignore=EXECUTION_KEYS,
                                        leaves=("search_config.controller.strategy_options",))
    if changed:
        raise ValueError(f"{path} was written with other arguments ({', '.join(changed)}); "
                         f"use another --output_dir or the same arguments")
    return state


def _eta(seconds: float) -> str:
    minutes = seconds / 60.0
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60.0:.1f} h"


def tables(state: dict[str, Any]) -> str:
    """The cells and the statistics as Markdown."""
    inputs, stats = state["inputs"], state["statistics"]
    recipe = inputs["recipe"]
    backbone = recipe["network"]["backbone"]
    lines = [f"## Supernet ranking: {inputs['search_dir']}", "",
             f"{stats['n']} uniform random cells (seed {inputs['seed']}); stand-alone: "
             f"{backbone['num_cells_per_stack']}@F{backbone['num_conv_filters']}, "
             f"{recipe['epochs']} epoch(s), {recipe['data']['dataset']} "
             f"{recipe['data']['image_size']} px, seed {inputs['seed']}.", "",
             "| split | Kendall tau (p) | Spearman rho (p) |", "|---|---:|---:|"]
    for split in ("test", "validation"):
        s = stats[split]
        lines.append(f"| {split} | {_correlation(s['tau'], s['p_value'])} | "
                     f"{_correlation(s['spearman']['rho'], s['spearman']['p_value'])} |")
    noise = stats["test"]["noise"]
    verdict = ("the cells differ by no more than the noise, so no estimate can rank them"
               if noise["ratio"] < NOISE_RATIO else "the cells differ beyond the noise")
    lines += ["", f"Noise floor (test split): the cells' stand-alone accuracies spread "
                  f"{noise['spread']:.4f} (sd) around {noise['mean']:.4f}; one accuracy on "
                  f"{noise['examples']:,} images has a binomial standard error of "
                  f"{noise['binomial_se']:.4f} (ratio {noise['ratio']:.2f}; {verdict}). "
                  f"The supernet's estimates spread {stats['supernet_spread']:.4f}.", "",
              "| cell | supernet | stand-alone test | stand-alone validation | CPU-s |",
              "|---|---:|---:|---:|---:|"]
    derived = state.get("derived")
    rows = ([{**derived, "name": f"derived: {derived['name']}"}] if derived else []) + \
        state["cells"]
    for cell in rows:
        s = cell["standalone"]
        lines.append(f"| {cell['name']} `{cell['fingerprint'][:10]}` | {cell['supernet']:.4f} "
                     f"| {s['test_accuracy']:.4f} | {s['accuracy']:.4f} | "
                     f"{s['cpu_seconds']:.0f} |")
    if derived:
        st = stats["derived"]
        lines += ["", f"The search's derived cell, trained alone: above {st['test']['above']}, "
                      f"tied with {st['test']['tied']} and below {st['test']['below']} of the "
                      f"{st['test']['n']} random cells on the test split (percentile "
                      f"{st['test']['percentile']:.0f}), percentile "
                      f"{st['validation']['percentile']:.0f} on the validation split; its "
                      f"supernet estimate is at percentile {st['supernet']['percentile']:.0f}."]
    return "\n".join(lines) + "\n"


def scatter_png(state: dict[str, Any]) -> bytes:
    """Estimate against stand-alone test accuracy, one point per cell, as PNG bytes."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    cells, stats = state["cells"], state["statistics"]
    fig, ax = plt.subplots(figsize=(5, 4))
    try:
        ax.scatter([c["supernet"] for c in cells],
                   [c["standalone"]["test_accuracy"] for c in cells], s=18)
        if state.get("derived"):
            d = state["derived"]
            ax.scatter([d["supernet"]], [d["standalone"]["test_accuracy"]], marker="*", s=90,
                       color="tab:red", label="the search's derived cell")
        noise = stats["test"]["noise"]
        ax.axhspan(noise["mean"] - noise["binomial_se"], noise["mean"] + noise["binomial_se"],
                   alpha=0.15, label="mean ± one accuracy's binomial SE")
        ax.set_xlabel("supernet estimate (validation, shared weights)")
        ax.set_ylabel("stand-alone accuracy (test split)")
        tau, p_value = stats["test"]["tau"], stats["test"]["p_value"]
        ax.set_title("Kendall tau " + ("undefined (a constant side)" if math.isnan(tau) else
                                       f"{tau:+.2f} (p = {p_value:.2f})")
                     + f" over {stats['n']} cells", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--search_dir", required=True,
                        help="work directory of a finished weight-sharing search")
    parser.add_argument("--output_dir", required=True,
                        help="where ranking.json/.md/.png go; the same command resumes there")
    parser.add_argument("--cells", type=int, default=20, help="random cells ranked (>= 3)")
    parser.add_argument("--seed", type=int, default=0, help="the cells' draw and training seed")
    parser.add_argument("--child", default=None,
                        help="child preset of the stand-alone training (default: the search's "
                             "retrain recipe)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="stand-alone epochs (default: the recipe's)")
    parser.add_argument("--validation_batches", type=int, default=None,
                        help="validation batches of the supernet's estimates (default: all)")
    parser.add_argument("--derived", action=argparse.BooleanOptionalAction, default=True,
                        help="also train the search's derived cell and place it among the "
                             "random cells (--no-derived: one training less)")
    return parser


def _prepare(args) -> tuple[dict[str, Any], list[Genotype], Retrainer, Any]:
    """Every check, nothing written: (the saved state or a new one, the genotypes to train
    in order (the derived cell first), the retrainer, the search or None when resuming)."""
    from search_cifar.weight_sharing import loop  # noqa: PLC0415
    search_dir, out_dir = os.path.abspath(args.search_dir), os.path.abspath(args.output_dir)
    state_path = os.path.join(out_dir, RANKING_JSON)
    config = loop.load_workdir_config(search_dir)
    recipe = resolve_recipe(config, args.child, args.epochs)
    cells = random_cells(config.space(), args.cells, args.seed)
    derived = None
    if args.derived:
        path = os.path.join(search_dir, artifacts.SEARCH_REPORT_DIR, artifacts.BEST_GENOTYPE_FILE)
        if not os.path.exists(path):
            finished_search(search_dir)   # an unfinished search has no derived cell: say so
        derived = Genotype.load(path)
    inputs = json.loads(json.dumps({
        "search_dir": search_dir, "search_config": config.to_dict(), "cells": args.cells,
        "seed": args.seed, "recipe": recipe.to_dict(),
        "validation_batches": args.validation_batches,
        "derived": derived.fingerprint() if derived else None}))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"--output_dir {out_dir} is a file")
    state = load_state(state_path, inputs)
    if state is not None and [c["fingerprint"] for c in state["cells"]] != \
            [c.fingerprint() for c in cells]:
        raise ValueError(f"{state_path} holds other cells than --seed={args.seed} draws")
    search = finished_search(search_dir) if state is None else None
    retrainer = Retrainer(recipe)
    retrainer._evaluator(args.seed)   # loads (checks) the recipe's data and its test split
    if state is None:
        state = {"inputs": inputs, "derived": _entry(derived) if derived else None,
                 "cells": [_entry(c) for c in cells]}
    return state, ([derived] if derived else []) + cells, retrainer, search


def _entry(genotype: Genotype) -> dict[str, Any]:
    return {"name": genotype.name, "fingerprint": genotype.fingerprint(),
            "genotype": genotype.to_dict(), "supernet": None, "standalone": None}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.cells < 3:
        parser.error(f"--cells must be >= 3, got {args.cells}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    for name in ("epochs", "validation_batches"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    try:
        state, genotypes, retrainer, search = _prepare(args)
    except (ValueError, OSError) as e:
        parser.exit(2, f"supernet_ranking: {e}\n")
    out_dir = os.path.abspath(args.output_dir)
    state_path = os.path.join(out_dir, RANKING_JSON)
    entries = ([state["derived"]] if state["derived"] else []) + state["cells"]
    os.makedirs(out_dir, exist_ok=True)
    if search is not None:
        print(f"scoring {len(entries)} cells with the shared weights of {args.search_dir} ...",
              flush=True)
        for entry, estimate in zip(entries, search.scores(genotypes, args.validation_batches)):
            entry["supernet"] = estimate
        io_utils.atomic_write_json(state_path, state)
    todo = [i for i, entry in enumerate(entries) if entry["standalone"] is None]
    if len(todo) < len(entries):
        print(f"resuming: {len(entries) - len(todo)} of {len(entries)} cells already trained",
              flush=True)
    started = time.monotonic()
    for done, i in enumerate(todo, 1):
        entry = entries[i]
        run = entry["standalone"] = retrainer.run(genotypes[i], args.seed)
        io_utils.atomic_write_json(state_path, state)
        eta = (time.monotonic() - started) / done * (len(todo) - done)
        print(f"cell {i + 1}/{len(entries)} {entry['name']} {entry['fingerprint'][:10]}: "
              f"supernet {entry['supernet']:.4f}, stand-alone {run['test_accuracy']:.4f} test / "
              f"{run['accuracy']:.4f} validation, {run['wall_seconds']:.0f} s"
              f"{f'; ETA {_eta(eta)}' if done < len(todo) else ''}", flush=True)
    state["statistics"] = statistics_of(state["cells"])
    if state["derived"]:
        state["statistics"]["derived"] = derived_standing(state["derived"], state["cells"])
    text = tables(state)
    io_utils.atomic_write_json(state_path, state)
    io_utils.atomic_write_text(os.path.join(out_dir, RANKING_MD), text)
    io_utils.atomic_write_bytes(os.path.join(out_dir, RANKING_PNG), scatter_png(state))
    print(text)
    return state


if __name__ == "__main__":
    main()
