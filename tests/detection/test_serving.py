"""A detector from an exported SavedModel: what it loads is checked."""

import numpy as np
import pytest

from detection import serving


def test_saved_model_detector_checks_what_it_loads(tmp_path):
    import tensorflow as tf
    with pytest.raises(ValueError, match="is not a SavedModel"):
        serving.saved_model_detector(str(tmp_path))

    plain = tf.Module()
    plain.v = tf.Variable(1.0)
    tf.saved_model.save(plain, str(tmp_path / "plain"), signatures={})
    with pytest.raises(ValueError, match="has no serving_default signature"):
        serving.saved_model_detector(str(tmp_path / "plain"))

    class Floats(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def serve(self, x):
            return {"y": x}

    floats = Floats()
    tf.saved_model.save(floats, str(tmp_path / "floats"), signatures=floats.serve)
    with pytest.raises(ValueError, match="not an image batch"):
        serving.saved_model_detector(str(tmp_path / "floats"))

    class Classifier(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
        def serve(self, images):
            return {"logits": tf.reduce_mean(tf.cast(images, tf.float32), axis=[1, 2])}

    classifier = Classifier()
    tf.saved_model.save(classifier, str(tmp_path / "cls" / "saved_model"),
                        signatures=classifier.serve)
    detect = serving.saved_model_detector(str(tmp_path / "cls"))
    with pytest.raises(ValueError, match="is not a detector"):
        detect(np.zeros((1, 4, 4, 3), np.uint8))

