"""The artifact names and the zoo's layout: entry names, the default zoo, paths inside an entry."""

import os

import pytest

from nasnet import artifacts


def test_layout_names():
    assert (artifacts.GENOTYPE_FILE, artifacts.METRICS_FILE, artifacts.EXPORT_INFO_FILE,
            artifacts.SAVED_MODEL_DIR, artifacts.MANIFEST_FILE) == (
        "genotype.json", "metrics.json", "export_info.json", "saved_model", "manifest.json")
    assert artifacts.CHIEF_CHECKPOINT_DIR == os.path.join("checkpoints", "chief")


@pytest.mark.parametrize("name", ["digits_nasnet_a", "a", "v1.2-b_3", "9" * 100])
def test_valid_entry_names(name, tmp_path):
    assert artifacts.is_zoo_entry_name(name)
    assert artifacts.zoo_entry_dir(str(tmp_path), name) == os.path.join(str(tmp_path), name)


@pytest.mark.parametrize("name", ["../escape", ".hidden", "", "a/b", "x" * 101, None, 7])
def test_invalid_entry_names(name, tmp_path):
    assert not artifacts.is_zoo_entry_name(name)
    with pytest.raises(ValueError, match="invalid zoo entry name"):
        artifacts.zoo_entry_dir(str(tmp_path), name)


def test_default_zoo_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NASNET_ZOO_DIR", str(tmp_path / "z"))
    assert artifacts.default_zoo_dir() == str(tmp_path / "z")
    assert artifacts.zoo_entry_dir(None, "e") == str(tmp_path / "z" / "e")
    monkeypatch.delenv("NASNET_ZOO_DIR")
    monkeypatch.setenv("BUILD_WORKING_DIRECTORY", str(tmp_path))
    assert artifacts.default_zoo_dir() == str(tmp_path / "out" / "zoo")
    monkeypatch.delenv("BUILD_WORKING_DIRECTORY")
    monkeypatch.chdir(tmp_path)
    assert artifacts.default_zoo_dir() == os.path.join(os.getcwd(), "out", "zoo")


def test_path_inside(tmp_path):
    entry = tmp_path / "entry"
    (entry / "saved_model").mkdir(parents=True)
    assert artifacts.path_inside(str(entry), "saved_model") == str(entry / "saved_model")
    with pytest.raises(ValueError, match="outside the entry directory"):
        artifacts.path_inside(str(entry), "../other")
    os.symlink(tmp_path, entry / "link")
    with pytest.raises(ValueError, match="outside the entry directory"):
        artifacts.path_inside(str(entry), "link/secret")
