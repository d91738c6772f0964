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
* ``evaluator.py``: the shared-weights evaluator (accuracy on a minibatch).
* ``derive.py``: sample the final policy, score, keep the best.
* ``checkpoint.py``: weights + optimizer + generator, and a JSON index.
* ``progress.py``: per-epoch lines with an ETA, TensorBoard scalars.
* ``retrain.py``: the one import of child training.
* ``loop.py``: ``run_weight_sharing(config, workdir, retrain=..., stream=...)``.

Example:
    >>> from search_cifar.child import TINY
    >>> from search_cifar.weight_sharing import config, loop, retrain
    >>> summary = loop.run_weight_sharing(config.get("enas_quickstart"), "out/enas_quickstart",
    ...                                   retrain=retrain.child_evaluator(TINY))
"""
