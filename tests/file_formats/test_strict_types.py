"""Booleans are not integers anywhere in a file format (issue 10 item 9).

Each format's valid document is written with ``true`` where an integer (or a
number) belongs, and read back through the reader the binaries use: every one
is a ValueError naming the field, never silently 1.
"""

from __future__ import annotations

import copy
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import formats_helpers as helpers  # noqa: E402
from search_cifar import experiments  # noqa: E402
from transfer import config as train_config  # noqa: E402

#: format -> (path to a number in the valid document, text the error must contain)
NUMBER_FIELDS = {
    "genotype": [(("format_version",), "format_version True"),
                 (("normal", "blocks", 0, "inputs", 0), "input_a must be an int, got True"),
                 (("reduction", "concat", 0), "concat entry must be an int, got True")],
    "trial record": [(("format_version",), "not a trial record of format 1"),
                     (("id",), "field 'id' must be an integer, got true"),
                     (("choices", 1), "field 'choices[1]' must be an integer, got true"),
                     (("evaluation",), "field 'evaluation' must be an integer or null"),
                     (("reward",), "field 'reward' must be a number or null, got true"),
                     (("duration",), "field 'duration' must be a number or null")],
    "search state": [(("format_version",), "not a search state of format 1"),
                     (("strategy", "next_id"), "'next_id' must be an integer >= 0, got True"),
                     (("strategy", "seed"), "'seed' must be an integer >= 0, got True"),
                     (("strategy", "pending", 0, "id"), "not a proposal"),
                     (("strategy", "pending", 0, "choices", 0), "not a proposal")],
    "zoo manifest": [(("format_version",), "format_version True"),
                     (("num_classes",), "field 'num_classes' must be an integer or null"),
                     (("mult_adds",), "field 'mult_adds' must be an integer or null"),
                     (("input_size", 0), "field 'input_size[0]' must be an integer"),
                     (("files", 0, "size"), "field 'files[0].size' must be an integer")],
    "export info": [(("format_version",), "'format_version' must be 1"),
                    (("num_classes",), "'num_classes' must be an integer >= 1, got True"),
                    (("parameters",), "'parameters' must be an integer >= 0, got True"),
                    (("input_size", 1), "'input_size' must be [height, width, channels]"),
                    (("classification", "top_k"), "'top_k' must be an integer >= 1")],
    "COCO annotations": [(("images", 0, "id"), "images[0].id must be an integer, got true"),
                         (("images", 0, "height"), "images[0].height must be a positive"),
                         (("categories", 0, "id"), "categories[0].id must be an integer"),
                         (("annotations", 0, "id"), "annotations[0].id must be an integer"),
                         (("annotations", 0, "image_id"), "annotations[0].image_id must be"),
                         (("annotations", 0, "category_id"), "annotations[0].category_id"),
                         (("annotations", 0, "iscrowd"), "iscrowd must be 0 or 1, got true"),
                         (("annotations", 0, "bbox", 2), "annotations[0].bbox must be"),
                         (("annotations", 0, "area"), "annotations[0].area must be")],
    "COCO detections": [((0, "image_id"), "detection 0: image_id must be an integer"),
                        ((0, "category_id"), "detection 0: category_id must be an integer"),
                        ((0, "score"), "detection 0: score must be a finite number"),
                        ((0, "bbox", 0), "detection 0: bbox must be")],
}


def _with_true(document, path):
    document = copy.deepcopy(document)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = True
    return document


CASES = [(name, path, text) for name, fields in NUMBER_FIELDS.items()
         for path, text in fields]


@pytest.mark.parametrize("name, path, text", CASES,
                         ids=[f"{n}:{'.'.join(map(str, p))}" for n, p, _ in CASES])
def test_true_where_a_number_belongs_is_refused(tmp_path, name, path, text):
    fmt = helpers.FORMATS[name]
    fmt.write(str(tmp_path), helpers.dump(fmt.valid()))
    fmt.read(str(tmp_path))                                    # the valid document reads
    fmt.write(str(tmp_path), helpers.dump(_with_true(fmt.valid(), path)))
    with pytest.raises(ValueError) as e:
        fmt.read(str(tmp_path))
    assert text in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


# -- the configs read from JSON: a training run's and a search's config.json --------------
TRAIN_FIELDS = [("train_steps",), ("seed",), ("eval_steps",), ("steps_per_loop",),
                ("model", "num_classes"), ("model", "image_size"),
                ("model", "backbone", "num_cells_per_stack"),
                ("model", "backbone", "penultimate_filters"),
                ("model", "backbone", "layer", "weight_decay"),
                ("optimizer", "base_batch_size"), ("optimizer", "base_learning_rate"),
                ("data", "shuffle_buffer")]


@pytest.mark.parametrize("path", TRAIN_FIELDS, ids=[".".join(p) for p in TRAIN_FIELDS])
def test_a_training_config_with_true_for_a_number_is_refused(tmp_path, path):
    file = str(tmp_path / "config.json")
    valid = json.loads(train_config.DIGITS_TINY.to_json())
    helpers.write_bytes(file, helpers.dump(valid))
    assert train_config.TrainConfig.load(file) == train_config.DIGITS_TINY
    helpers.write_bytes(file, helpers.dump(_with_true(valid, path)))
    with pytest.raises(ValueError, match=rf"^{file}: train config field '{'.'.join(path)}' "
                                         rf"must be an? (integer|number)"):
        train_config.TrainConfig.load(file)


SEARCH_FIELDS = [("budget",), ("seed",), ("workers",), ("top_k",), ("max_repeats",),
                 ("cpus_per_trial",), ("child", "epochs"), ("child", "data", "batch_size"),
                 ("child", "network", "backbone", "num_conv_filters"),
                 ("space", "num_blocks"), ("synthetic", "seed")]


@pytest.mark.parametrize("path", SEARCH_FIELDS, ids=[".".join(p) for p in SEARCH_FIELDS])
def test_a_search_config_with_true_for_a_number_is_refused(tmp_path, path):
    valid = experiments.get("quickstart").to_dict()
    helpers.write_bytes(str(tmp_path / "config.json"), helpers.dump(valid))
    assert experiments.load_workdir_config(str(tmp_path)) == experiments.get("quickstart")
    helpers.write_bytes(str(tmp_path / "config.json"), helpers.dump(_with_true(valid, path)))
    with pytest.raises(ValueError, match=rf"config.json: not a valid search config: config "
                                         rf"field '{'.'.join(path)}' must be an? "
                                         rf"(integer|number)"):
        experiments.load_workdir_config(str(tmp_path))


def test_a_malformed_strategy_envelope_or_generator_state_is_a_value_error():
    from search_cifar import strategies
    from search_cifar.space import NasnetCellSpace

    state = helpers.state_doc()["strategy"]
    with pytest.raises(ValueError, match="strategy state 'pending' must be a list, got {}"):
        helpers.strategy().set_state({**state, "pending": {}})
    space = NasnetCellSpace(num_blocks=2, ops=("identity", "sep_conv_3x3"))
    saved = json.loads(json.dumps(strategies.make("random", space, seed=0).get_state()))
    saved["algorithm"]["rng"]["state"]["state"] = -1         # numpy's uint64: OverflowError
    with pytest.raises(ValueError, match="malformed 'random' algorithm state: OverflowError"):
        strategies.make("random", space, seed=0).set_state(saved)
