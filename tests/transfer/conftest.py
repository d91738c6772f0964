"""Fixtures shared by the transfer tests: one tiny one-device training run per session."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_helpers  # noqa: E402


@pytest.fixture(scope="session")
def one_device_run(tmp_path_factory):
    """digits, the 2-block test cell, 24 steps in 3 loops, one device, in this process."""
    from transfer import config, trainer
    cfg = config.preset("digits_tiny", {**train_helpers.tiny_overrides(24, 8, 8),
                                        "strategy": "one_device"})
    return trainer.train(cfg, str(tmp_path_factory.mktemp("one_device")))
