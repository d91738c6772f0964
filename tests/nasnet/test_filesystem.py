"""The file-system interface gives the same answers for a local path and for the same
directory as a URL (file://, through tf.io.gfile); TensorFlow's errors become OSError."""

import os

import pytest

from nasnet import filesystem as fs


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.bin").write_bytes(b"12345")
    (tmp_path / "a" / ".hidden").write_text("h")
    (tmp_path / "top.txt").write_text("t")
    return tmp_path


@pytest.mark.parametrize("as_url", [False, True], ids=["local", "file-url"])
def test_reading_a_tree(tree, as_url):
    root = f"file://{tree}" if as_url else str(tree)
    assert fs.uses_gfile(root) is as_url
    assert fs.listdir(root) == ["a", "top.txt"]
    assert fs.isdir(fs.join(root, "a")) and not fs.isfile(fs.join(root, "a"))
    assert fs.isfile(fs.join(root, "top.txt")) and fs.exists(fs.join(root, "top.txt"))
    assert not fs.exists(fs.join(root, "nope")) and not fs.isfile(fs.join(root, "nope"))
    assert fs.relative_files(root) == ["a/.hidden", "a/b/x.bin", "top.txt"]
    assert fs.size(fs.join(root, "a", "b", "x.bin")) == 5
    assert fs.read_file(fs.join(root, "a", "b", "x.bin")) == b"12345"
    assert abs(fs.mtime(fs.join(root, "top.txt")) - os.stat(tree / "top.txt").st_mtime) < 1
    with fs.open_file(fs.join(root, "top.txt"), "rb") as f:
        assert f.read() == b"t"
    assert not fs.islink(fs.join(root, "top.txt"))


@pytest.mark.parametrize("as_url", [False, True], ids=["local", "file-url"])
def test_writing_copying_renaming_removing(tree, as_url):
    root = f"file://{tree}" if as_url else str(tree)
    fs.makedirs(fs.join(root, "c", "d"))
    fs.write_file(fs.join(root, "c", "d", "y.txt"), b"y")
    fs.copy_tree(fs.join(root, "a"), fs.join(root, "copy"))
    assert fs.relative_files(fs.join(root, "copy")) == [".hidden", "b/x.bin"]
    fs.rename(fs.join(root, "copy"), fs.join(root, "moved"))
    assert not fs.exists(fs.join(root, "copy"))
    assert (tree / "moved" / "b" / "x.bin").read_bytes() == b"12345"
    fs.remove(fs.join(root, "moved"))
    fs.remove(fs.join(root, "top.txt"))
    assert fs.listdir(root) == ["a", "c"]


def test_errors_of_the_url_path_are_os_errors(tmp_path):
    with pytest.raises(OSError, match="nope"):
        fs.listdir(f"file://{tmp_path}/nope")
    with pytest.raises(OSError):
        fs.read_file(f"file://{tmp_path}/nope.txt")
    with pytest.raises(OSError):
        fs.listdir(str(tmp_path / "nope"))


def test_a_symbolic_link_is_seen_and_removed_as_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("f")
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert fs.islink(str(tmp_path / "link"))
    fs.remove(str(tmp_path / "link"))
    assert (tmp_path / "real" / "f").read_text() == "f"
