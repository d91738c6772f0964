"""nasnet.config_utils: strict overrides and the keys that changed between two configs."""

import pytest

from nasnet import config_utils, networks


def test_override_names_an_unknown_key():
    config = networks.ClassifierConfig()
    assert config_utils.override(config, {"num_classes": 10}).num_classes == 10
    with pytest.raises(ValueError, match="unknown config key 'backbone.nope'"):
        config_utils.override(config, {"backbone.nope": 1})
    with pytest.raises(ValueError, match="is not a nested config"):
        config_utils.override(config, {"num_classes.x": 1})


def test_changed_keys():
    saved = {"budget": 10, "child": {"epochs": 1, "data": {"seed": 0}},
             "strategy_options": {"population_size": 8}, "flag": True}
    assert config_utils.changed_keys(saved, saved) == []
    current = {"budget": 20, "child": {"epochs": 2, "data": {"seed": 0}},
               "strategy_options": {"population_size": 9}, "flag": 1}
    assert config_utils.changed_keys(saved, current, ignore=("budget",),
                                     leaves=("strategy_options",)) == [
        "child.epochs", "flag", "strategy_options"]  # true is not 1
    assert config_utils.changed_keys({"a": 1}, {"b": 1}) == ["a", "b"]
