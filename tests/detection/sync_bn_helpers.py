"""Script for test_backbone.py: the NASNet backbone's batch norm under 2 mirrored replicas.

    python sync_bn_helpers.py OUT.json

Splits the CPU into 2 logical devices (before TensorFlow starts), builds the
backbone through official.vision's factory under ``MirroredStrategy`` with
``use_sync_bn`` False and True, and runs one training-mode forward pass in
which replica 1's images are replica 0's plus a constant. The ImageNet stem
starts with a VALID convolution without bias, so the shift reaches the first
batch norm as a per-channel constant: per-replica statistics remove it (both
replicas give the same features), global statistics do not. Writes what it
saw as JSON.
"""

from __future__ import annotations

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(out: str) -> int:
    sys.path.insert(0, REPO)
    from nasnet import distribute
    distribute.configure_cpu_devices(2)
    import numpy as np
    import tensorflow as tf
    import tf_keras
    from official.vision.configs import common
    from official.vision.modeling.backbones import factory

    from detection import backbone

    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in tf.config.list_logical_devices("CPU")])
    images = np.random.RandomState(0).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    shards = (tf.constant(images), tf.constant(images + 0.5))
    facts = {"replicas": int(strategy.num_replicas_in_sync)}
    for sync in (False, True):
        with strategy.scope():
            model = factory.build_backbone(
                tf_keras.layers.InputSpec(shape=[None, 64, 64, 3]),
                backbone.Backbone(type="nasnet", nasnet=backbone.NasnetBackboneConfig(
                    genotype="nasnet_a", size="1@192", min_level=3)),
                common.NormActivation(use_sync_bn=sync))
        norms = [layer for layer in model._flatten_layers()
                 if isinstance(layer, tf_keras.layers.BatchNormalization)]

        @tf.function
        def forward(shard_0, shard_1):
            def step(ctx_images):
                return model(ctx_images, training=True)["3"]
            inputs = strategy.experimental_distribute_values_from_function(
                lambda ctx: (shard_0, shard_1)[ctx.replica_id_in_sync_group])
            return strategy.run(step, args=(inputs,))

        per_replica = strategy.experimental_local_results(forward(*shards))
        first, second = (np.asarray(x) for x in per_replica)
        facts["sync" if sync else "per_replica"] = {
            "batch_norms": len(norms),
            "synchronized": sum(bool(layer.synchronized) for layer in norms),
            "max_difference": float(np.max(np.abs(first - second))),
            "scale": float(np.max(np.abs(first)))}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(facts, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
