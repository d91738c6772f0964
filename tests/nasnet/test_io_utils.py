"""Atomic files and directories: whole or absent, the old content untouched on failure."""

import os
import stat

import pytest

from nasnet import io_utils


def _siblings(path):
    """Hidden temporary siblings that atomic_directory might leave behind."""
    parent, name = os.path.split(str(path))
    return sorted(n for n in os.listdir(parent) if n.startswith(f".{name}."))


def _write(directory, name, text):
    with open(os.path.join(directory, name), "w") as f:
        f.write(text)


def _read(directory, name):
    with open(os.path.join(directory, name)) as f:
        return f.read()


@pytest.fixture
def old(tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    _write(target, "old.txt", "old")
    return target


def test_atomic_write_json(tmp_path):
    path = tmp_path / "sub" / "x.json"
    io_utils.atomic_write_json(str(path), {"b": 1, "a": [1.5]})
    assert path.read_text() == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}\n'
    assert os.listdir(tmp_path / "sub") == ["x.json"]


def test_a_new_directory_appears_whole(tmp_path):
    target = tmp_path / "parent" / "export"
    with io_utils.atomic_directory(str(target)) as tmp:
        assert os.path.isdir(tmp) and os.listdir(tmp) == [] and not target.exists()
        assert os.path.dirname(tmp) == str(target.parent)
        os.makedirs(os.path.join(tmp, "saved_model"))
        _write(os.path.join(tmp, "saved_model"), "saved_model.pb", "graph")
        _write(tmp, "genotype.json", "{}")
    assert sorted(os.listdir(target)) == ["genotype.json", "saved_model"]
    assert _read(target / "saved_model", "saved_model.pb") == "graph"
    assert _siblings(target) == []


def test_the_new_directory_honours_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        with io_utils.atomic_directory(str(tmp_path / "export")) as tmp:
            _write(tmp, "a", "1")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "export").st_mode) == 0o755


def test_overwrite_replaces_the_old_directory(old):
    with io_utils.atomic_directory(str(old), overwrite=True) as tmp:
        _write(tmp, "new.txt", "new")
        assert _read(old, "old.txt") == "old"        # untouched until the swap
    assert os.listdir(old) == ["new.txt"]
    assert _siblings(old) == []


def test_an_existing_directory_is_refused_without_overwrite(old):
    with pytest.raises(ValueError, match="already exists .pass overwrite=True"):
        with io_utils.atomic_directory(str(old)):
            pytest.fail("the body must not run")
    assert os.listdir(old) == ["old.txt"] and _siblings(old) == []


def test_a_file_in_the_way_is_refused(tmp_path):
    path = tmp_path / "export"
    path.write_text("a file")
    with pytest.raises(ValueError, match="exists and is not a directory"):
        with io_utils.atomic_directory(str(path), overwrite=True):
            pytest.fail("the body must not run")
    assert path.read_text() == "a file" and _siblings(path) == []


def test_an_exception_while_writing_leaves_the_old_directory_and_no_temp(old):
    with pytest.raises(RuntimeError, match="disk on fire"):
        with io_utils.atomic_directory(str(old), overwrite=True) as tmp:
            _write(tmp, "new.txt", "half")
            raise RuntimeError("disk on fire")
    assert os.listdir(old) == ["old.txt"] and _read(old, "old.txt") == "old"
    assert _siblings(old) == []


def test_an_exception_while_writing_a_new_directory_leaves_nothing(tmp_path):
    target = tmp_path / "export"
    with pytest.raises(KeyboardInterrupt):
        with io_utils.atomic_directory(str(target)) as tmp:
            _write(tmp, "new.txt", "half")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_a_failed_swap_puts_the_old_directory_back(old, monkeypatch):
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:          # old -> aside worked; new -> target fails
            raise OSError("rename failed")
        return real_replace(src, dst)

    monkeypatch.setattr(io_utils.os, "replace", replace)
    with pytest.raises(OSError, match="rename failed"):
        with io_utils.atomic_directory(str(old), overwrite=True) as tmp:
            _write(tmp, "new.txt", "new")
    assert len(calls) == 3 and calls[2][1] == str(old)   # moved back
    assert os.listdir(old) == ["old.txt"] and _siblings(old) == []


def test_a_directory_that_appears_meanwhile_is_not_replaced(tmp_path):
    target = tmp_path / "export"
    with pytest.raises(ValueError, match="already exists"):
        with io_utils.atomic_directory(str(target)) as tmp:
            _write(tmp, "mine.txt", "mine")
            target.mkdir()
            _write(target, "theirs.txt", "theirs")
    assert os.listdir(target) == ["theirs.txt"] and _siblings(target) == []
