"""NAS-Bench-Graph as a search objective: measured accuracies of 26,206 graph networks.

NAS-Bench-Graph (Qin et al. 2022, "NAS-Bench-Graph: Benchmarking Graph Neural
Architecture Search", NeurIPS Datasets and Benchmarks; github.com/THUMNLab/NAS-Bench-Graph)
trained every architecture of a small GNN space on nine graph datasets. Its
pip package ``nas-bench-graph`` (pinned in ``requirements.txt``) ships the
validation and test accuracy of each architecture inside the wheel, so this
objective runs offline and costs a dictionary lookup per trial: the real
tabular benchmark beside the synthetic landscapes of ``objectives.py``.

The space (``NasBenchGraphSpace``, a ``CategoricalSpace``): a DAG of 4
computing nodes, each reading one earlier node (the package's ``link_list``:
9 link patterns), and an op per node (its ``gnn_list``: gat, gcn, gin, cheb,
sage, arma, graph, fc, skip), i.e. 5 decisions of 9 choices, 59,049 choice
tuples::

    choices = (link pattern, op of node 1, op of node 2, op of node 3, op of node 4)

Many tuples are the same network (nodes that read the same input can be
listed in any order; a skip node can be moved). ``space.key(choices)`` is the
package's own canonical hash (``Arch.valid_hash()``), which is what the search
driver de-duplicates by (``scheduler.py``), so a budget counts distinct
architectures: 26,206 in the table, plus the all-skip network (nine tuples),
which the benchmark leaves out and which evaluates as a failed trial.

The objective (``NasBenchGraphObjective``): the reward a search observes is
the table's validation accuracy; the true value of an architecture, by which
regret and the top-0.1% are measured, is its test accuracy. Regret is in
accuracy units (``optimum - test accuracy``), not normalised like the
synthetic objectives'. The optimum and ``top_threshold`` are exact, over the
26,206 distinct architectures. There is no noise and no seed: every seed of
the benchmark searches the same table (the ``seed`` argument exists so that
``objectives.make(name, seed=s)`` builds every objective alike).

Datasets: ``DATASETS``, the eight that share the 9-op list. The ninth,
``proteins``, has 5 ops and another hash (``hash_arch(use_proteins=True)``) and
is not offered.

Safety: the tables are pickles, and unpickling runs what the file says. They
are read only from the installed package's own directory, by its own loader
(``nas_bench_graph.light_read``, which formats ``<package>/light/<name>.bench``),
for a dataset name from ``DATASETS`` only (never a user-given path), and each
file's SHA-256 must equal that of the pinned release (``DIGESTS``) before it
is unpickled. What those files unpickle was checked with ``pickletools``: a
dict of dicts of floats whose only globals are ``numpy.dtype`` and
``numpy.core.multiarray.scalar`` (numpy scalars).

Example:
    >>> objective = NasBenchGraphObjective("cora")
    >>> choices, test_accuracy = objective.optimum()
    >>> objective.evaluate(choices).reward        # its validation accuracy
    >>> objective.space.key((8, 0, 1, 2, 3)) == objective.space.key((8, 0, 1, 2, 3))
    True
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import math
import os
from typing import Any, Sequence

import numpy as np

from search_cifar.evaluator import Report, Result
from search_cifar.space import CategoricalSpace

#: The pinned release whose files ``DIGESTS`` describes.
PACKAGE = "nas-bench-graph"
VERSION = "1.4.0"
INSTALL_HINT = f"pip install {PACKAGE}=={VERSION} (it is in requirements.txt: make setup)"

#: SHA-256 of each table file of nas-bench-graph 1.4.0 (``<package>/light/<name>.bench``).
DIGESTS: dict[str, str] = {
    "arxiv": "7ee21a7653297a806c0ed1be3efe6ecc06acc84e48e942da0bfde0e5d287debe",
    "citeseer": "99c7f79b73372636305bf73fb32a58b63c57bd1871a152dd62ec72d984c8c50f",
    "computers": "fdb3dc0cf405d62322f0ab9614b2083c2a5e6576c2f43e4f2214be64bc62b1b3",
    "cora": "5e69b2f9bb08d8927d9ffd4921f8494a3cea349c9c3a461334cb9dc9e11701a8",
    "cs": "71ae8469930517160b024f52db6000a4897f1aff5d765beb27bb60952ed5bd31",
    "photo": "5511b4dc3f63fa988792177227db7901290fb9b27fc6c02e3036b29e134ed6df",
    "physics": "1e309bafee0b832c8b84fa3c039c36992bc0a910238b128f26b7e9190d7f2aea",
    "pubmed": "10b4dcf6cfd3a24f6059f7d541a4a872960b4adac0b3dba26abed1bb9a3d904d",
}
DATASETS: tuple[str, ...] = tuple(sorted(DIGESTS))
NUM_NODES = 4


def package() -> Any:
    """The installed ``nas_bench_graph`` module; ValueError naming the install command."""
    try:
        module = importlib.import_module("nas_bench_graph")
    except ImportError:
        raise ValueError(f"the NAS-Bench-Graph objectives need the {PACKAGE} package, which "
                         f"is not installed: {INSTALL_HINT}") from None
    return module


def table_path(dataset: str) -> str:
    """Where the installed package keeps ``dataset``'s table (its own directory only)."""
    if dataset not in DIGESTS:
        raise ValueError(f"unknown NAS-Bench-Graph dataset {dataset!r}; known: {list(DATASETS)}")
    return os.path.join(os.path.dirname(os.path.abspath(package().__file__)), "light",
                        f"{dataset}.bench")


@functools.lru_cache(maxsize=None)
def load_table(dataset: str) -> dict[int, dict[str, float]]:
    """``{canonical hash: {"valid_perf", "perf", "latency", "para"}}`` of ``dataset``.

    Checks the file against ``DIGESTS`` first (ValueError naming the file and the
    installed version when it differs), then unpickles it with the package's loader.
    """
    path = table_path(dataset)
    try:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    except OSError as e:
        raise ValueError(f"cannot read the NAS-Bench-Graph table {path}: {e.strerror}; "
                         f"reinstall it: {INSTALL_HINT}") from None
    if digest != DIGESTS[dataset]:
        try:
            installed = importlib.metadata.version(PACKAGE)
        except importlib.metadata.PackageNotFoundError:
            installed = "unknown"
        raise ValueError(f"{path} is not the table of {PACKAGE} {VERSION} (sha256 {digest[:12]}..., "
                         f"installed version {installed}); not unpickling it: {INSTALL_HINT}")
    raw = package().light_read(dataset)
    return {int(h): {k: float(v) for k, v in entry.items()} for h, entry in raw.items()}


@functools.lru_cache(maxsize=None)
def _canonical_ids() -> np.ndarray:
    """[9 ** 5] int64: the package's canonical hash of every choice tuple (mixed radix order)."""
    nbg = package()
    links, ops = nbg.link_list, nbg.gnn_list
    out = np.empty(len(links) * len(ops) ** NUM_NODES, np.int64)
    index = 0
    for link in links:
        for node_ops in np.ndindex(*(len(ops),) * NUM_NODES):
            out[index] = nbg.Arch(list(link), [ops[o] for o in node_ops]).valid_hash()
            index += 1
    return out


class NasBenchGraphSpace(CategoricalSpace):
    """(link pattern, op of node 1 .. 4): 5 decisions of 9 choices; ``key`` is canonical."""

    def __init__(self):
        nbg = package()
        self.links: tuple[tuple[int, ...], ...] = tuple(tuple(lk) for lk in nbg.link_list)
        self.ops: tuple[str, ...] = tuple(nbg.gnn_list)
        super().__init__((len(self.links),) + (len(self.ops),) * NUM_NODES)
        self._radix = np.array([math.prod(self.num_choices[i + 1:])
                                for i in range(len(self.num_choices))], np.int64)

    def signature(self) -> dict[str, Any]:
        return {"kind": "nas_bench_graph", "num_choices": list(self.num_choices)}

    def index(self, choices: Sequence[int]) -> int:
        """The position of ``choices`` in mixed-radix order (0 .. 59,048)."""
        return int(np.dot(self.validate(choices), self._radix))

    def canonical_id(self, choices: Sequence[int]) -> int:
        """The package's ``Arch.valid_hash()``: equal for every tuple of one network."""
        return int(_canonical_ids()[self.index(choices)])

    def key(self, choices: Sequence[int]) -> str:
        return f"nbg:{self.canonical_id(choices)}"

    def describe(self, choices: Sequence[int]) -> str:
        """``"link [0, 1, 2, 3], ops [gcn, gin, fc, skip]"``: the package's own terms."""
        choices = self.validate(choices)
        return (f"link {list(self.links[choices[0]])}, "
                f"ops [{', '.join(self.ops[o] for o in choices[1:])}]")

    def __repr__(self) -> str:
        return "NasBenchGraphSpace()"


class NasBenchGraphObjective:
    """One dataset's table as an evaluator with a known optimum (see the module docstring).

    Args:
        dataset: a name in ``DATASETS``.
        seed: unused (the table has no randomness); accepted so that every
            objective is built as ``make(name, seed=...)``.
    """

    threshold_method = "exact (26,206 distinct architectures)"

    def __init__(self, dataset: str = "cora", seed: int = 0):
        table = load_table(dataset)
        del seed
        self.dataset = dataset
        self.name = f"nas_bench_graph_{dataset}"
        self.space = NasBenchGraphSpace()
        ids = _canonical_ids()
        self._test = np.array([table[int(h)]["perf"] if int(h) in table else np.nan for h in ids])
        self._valid = np.array([table[int(h)]["valid_perf"] if int(h) in table else np.nan
                                for h in ids])
        self._distinct_test = np.sort([entry["perf"] for entry in table.values()])
        # The package's measured costs: latency in seconds (stored here in ms) and
        # parameters in millions (stored as counts).
        self._latency_ms = np.array([table[int(h)]["latency"] * 1e3 if int(h) in table
                                     else np.nan for h in ids])
        self._parameters = np.array([table[int(h)]["para"] * 1e6 if int(h) in table
                                     else np.nan for h in ids])
        self.num_architectures = len(table)

    def _row(self, choices: Sequence[int]) -> int:
        row = self.space.index(choices)
        if math.isnan(self._test[row]):
            raise ValueError(f"{self.space.describe(choices)} is not in NAS-Bench-Graph "
                             f"(every node a skip: the benchmark leaves it out)")
        return row

    def true_value(self, choices: Sequence[int]) -> float:
        """The measured test accuracy; ValueError for the all-skip network."""
        return float(self._test[self._row(choices)])

    def reward(self, choices: Sequence[int]) -> float:
        """The measured validation accuracy (what a search observes)."""
        return float(self._valid[self._row(choices)])

    def latency_ms(self, choices: Sequence[int]) -> float:
        """The table's measured inference latency, in milliseconds."""
        return float(self._latency_ms[self._row(choices)])

    def parameters(self, choices: Sequence[int]) -> float:
        """The table's parameter count."""
        return float(self._parameters[self._row(choices)])

    def table(self) -> dict[str, np.ndarray]:
        """Every distinct architecture of the table (one row per canonical network):
        ``{"test", "valid", "latency_ms", "parameters"}`` arrays of equal length; the
        ground truth that a search's Pareto front is compared with."""
        _, first = np.unique(_canonical_ids(), return_index=True)
        rows = first[~np.isnan(self._test[first])]
        return {"test": self._test[rows], "valid": self._valid[rows],
                "latency_ms": self._latency_ms[rows], "parameters": self._parameters[rows]}

    def evaluate(self, choices: Sequence[int], report: Report | None = None) -> Result:
        del report  # one-shot: the light tables have no per-epoch history
        try:
            return Result(reward=self.reward(choices))
        except ValueError as e:
            return Result(reward=None, error=str(e))

    def optimum(self) -> tuple[tuple[int, ...], float]:
        """The choice tuple (first in mixed-radix order) of the best test accuracy."""
        row = int(np.nanargmax(self._test))
        choices = tuple(int(c) for c in np.unravel_index(row, self.space.num_choices))
        return choices, float(self._test[row])

    def top_threshold(self, fraction: float = 0.001) -> float:
        """The test accuracy of the ceil(fraction * 26,206)-th best distinct architecture."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        k = max(1, math.ceil(fraction * len(self._distinct_test)))
        return float(self._distinct_test[-k])
