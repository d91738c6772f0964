"""Weight-sharing search (ENAS, Pham et al. 2018) in the NASNet cell space.

One over-parameterised network (the supernet) holds every candidate op on
every branch of every cell; each training step runs the path of one sampled
cell, and the strategy's proposals are scored by the supernet's accuracy on
validation minibatches instead of by training children from scratch. The
derived cell is then retrained with the project's child training and written
as ``report/best_genotype.json`` for ``transfer``, ``detection`` and the zoo.

Modules, one concept each:

* ``architecture.py``: a space point as the ``[2, num_blocks, 5]`` int32
  array the supernet reads; which spaces a supernet can hold.
* ``config.py``: frozen configs, the ``enas_cifar10`` and ``enas_quickstart``
  presets (every value labelled with its source), strict overrides.
* ``supernet_cell.py`` / ``supernet.py``: the cell and the network, built from
  ``nasnet/ops.py``'s ``make_op`` and ``nasnet/layers.py`` (no second copy of
  an op); a sampled path computes exactly the derived ``NasCell``.
* ``training.py``: optimizer and the traced train / evaluation steps under
  ``tf.distribute``, one trace for every architecture.
* ``pipelines.py``: the training, reward and validation streams.
* ``evaluator.py``: the shared-weights evaluator (accuracy on a minibatch), a
  ``search_cifar.evaluator.Result`` like every evaluator's.
* ``derive.py``: sample the final policy, score, keep the best.
* ``checkpoint.py``: weights + optimizer + generator, and a JSON index.
* ``progress.py``: per-epoch lines with an ETA, TensorBoard scalars.
* ``report.py``: ``report/`` (best genotype, cell pictures, reward plot,
  top-k) and the printed summary.
* ``loop.py``: ``WeightSharingSearch`` / ``run_weight_sharing(config,
  workdir)``: the search, its resume, the derivation, the retraining of the
  derived cell by the child training ``config.retrain``
  (``search_cifar.child_evaluator.ChildEvaluator``) and the report.
* ``command.py``: what the ``search`` binary does for
  ``--experiment=enas_cifar10`` / ``enas_quickstart``.

The package is part of the ``//search_cifar`` Bazel package (no BUILD file of
its own): the ``search`` binary in ``search_cifar/`` runs it, and it builds
on ``search_cifar``'s data, space, strategies and child training.

Example:
    >>> from search_cifar.weight_sharing import config, loop
    >>> summary = loop.run_weight_sharing(config.get("enas_quickstart"), "out/enas_quickstart")
    >>> summary["retrain"]["reward"]      # the derived cell, retrained from scratch

or from the shell: ``python search_cifar/search.py --experiment=enas_quickstart
--workdir=out/enas_quickstart``.
"""
