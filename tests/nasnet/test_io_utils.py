"""Atomic files and directories: whole or absent, the old content untouched on failure."""

import json
import os
import signal
import stat
import subprocess
import sys
import time

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


# -- file modes: the umask's, like the SavedModel beside them ----------------------------
@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755),
                                                        (0o077, 0o600, 0o700),
                                                        (0o002, 0o664, 0o775)])
def test_written_files_and_directories_get_the_umasks_mode(tmp_path, umask, file_mode,
                                                           dir_mode):
    previous = os.umask(umask)
    try:
        io_utils.atomic_write_json(str(tmp_path / "a.json"), {})
        io_utils.atomic_write_text(str(tmp_path / "b.txt"), "b")
        with io_utils.atomic_directory(str(tmp_path / "export")) as tmp:
            io_utils.atomic_write_bytes(os.path.join(tmp, "c.bin"), b"c")
            os.mkdir(os.path.join(tmp, "sub"))
    finally:
        os.umask(previous)

    def mode(*parts):
        return stat.S_IMODE(os.stat(os.path.join(tmp_path, *parts)).st_mode)

    assert mode("a.json") == mode("b.txt") == mode("export", "c.bin") == file_mode
    assert mode("export") == mode("export", "sub") == dir_mode


# -- reading: one ValueError naming the file ---------------------------------------------
def test_read_json_names_the_file_for_every_failure(tmp_path):
    with pytest.raises(ValueError, match=r"^settings '.*missing.json' does not exist$"):
        io_utils.read_json(str(tmp_path / "missing.json"), "settings")
    with pytest.raises(ValueError, match=r"^settings '.*' is a directory, not a file$"):
        io_utils.read_json(str(tmp_path), "settings")
    binary = tmp_path / "g.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(ValueError, match=r"settings '.*g.json' is not a text file: byte 0 is "
                                         r"not UTF-8 .*binary file"):
        io_utils.read_json(str(binary), "settings")
    torn = tmp_path / "torn.json"
    torn.write_text('{"a": [1, 2')
    with pytest.raises(ValueError, match=r"settings '.*torn.json' is not valid JSON: "):
        io_utils.read_json(str(torn), "settings")
    nan = tmp_path / "nan.json"
    nan.write_text('{"a": NaN}')
    assert io_utils.read_json(str(nan))["a"] != 0          # Python's json writes NaN
    with pytest.raises(ValueError, match="NaN is not a JSON value"):
        io_utils.read_json(str(nan), allow_constants=False)
    with pytest.raises(ValueError, match="a path must be a non-empty string"):
        io_utils.read_text("", "settings")


@pytest.mark.parametrize("depth", [65, 2000, 200_000])
def test_deep_nesting_is_refused_as_a_value_error(tmp_path, depth):
    path = tmp_path / "deep.json"
    path.write_text("[" * depth + "]" * depth)
    with pytest.raises(ValueError, match=r"deep.json' is not valid JSON: nested too deeply"):
        io_utils.read_json(str(path))
    assert io_utils.parse_json("[" * 64 + "]" * 64) is not None


def test_read_text_reports_an_os_error():
    # Reading the process's own memory as a file fails (EIO), even for root.
    with pytest.raises(ValueError, match=r"^cannot read settings '/proc/self/mem': "):
        io_utils.read_text("/proc/self/mem", "settings")


# -- a directory that can be written, checked before the work starts -----------------------
def test_check_writable_directory(tmp_path):
    io_utils.check_writable_directory(str(tmp_path / "new" / "deeper"), "--output_dir")
    io_utils.check_writable_directory(str(tmp_path), "--output_dir")
    assert sorted(os.listdir(tmp_path)) == []              # the probes are gone
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ValueError, match=r"^--output_dir '.*file.txt' is a file, not a "
                                         r"directory$"):
        io_utils.check_writable_directory(str(a_file), "--output_dir")
    with pytest.raises(ValueError, match=r"--output_dir '.*file.txt/sub' cannot be created: "
                                         r"'.*file.txt' is a file"):
        io_utils.check_writable_directory(str(a_file / "sub"), "--output_dir")
    with pytest.raises(ValueError, match=r"--output_dir '/proc/nasnet/out' is not writable "
                                         r"\(its nearest existing parent '/proc'\)"):
        io_utils.check_writable_directory("/proc/nasnet/out", "--output_dir")
    with pytest.raises(ValueError, match="--output_dir must be a non-empty path"):
        io_utils.check_writable_directory("", "--output_dir")
    io_utils.check_writable_directory("gs://bucket/eval", "--output_dir")   # not probed
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]


# -- stale temporaries: what a SIGKILL leaves, removed by the next run ------------------------
KILLED_WRITER = """
import os, signal, sys
from nasnet import io_utils
target, kind = sys.argv[1], sys.argv[2]
if kind == "file":
    io_utils.os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
    io_utils.atomic_write_json(target, {"half": True})
else:
    with io_utils.atomic_directory(target) as tmp:
        io_utils.atomic_write_text(os.path.join(tmp, "genotype.json"), "{}")
        os.kill(os.getpid(), signal.SIGKILL)
"""

CLEANER = """
import json, sys
from nasnet import io_utils
print(json.dumps(io_utils.remove_stale_temporaries(sys.argv[1], recursive=sys.argv[2] == "1")))
"""


def _python(code, *args, **kwargs):
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=120, **kwargs)


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_killed_writers_leftovers_are_removed_by_the_next_run(tmp_path):
    (tmp_path / "trials").mkdir()
    killed_file = _python(KILLED_WRITER, tmp_path / "trials" / "000001.json", "file")
    killed_dir = _python(KILLED_WRITER, tmp_path / "final", "directory")
    assert killed_file.returncode == killed_dir.returncode == -signal.SIGKILL
    left = sorted(os.listdir(tmp_path / "trials")) + sorted(
        n for n in os.listdir(tmp_path) if n.startswith("."))
    assert len(left) == 2 and all(io_utils.is_temporary_name(n) for n in left), left
    # What is not ours stays: look-alikes, and the user's own hidden files.
    for name in (".tmp-notours", ".final.tmp-worker1-123", ".tmp-0000000g-1-abcdef12",
                 ".config", "state.json"):
        (tmp_path / name).write_text("keep")
    time.sleep(0.2)       # a process start is known to 10 ms ticks: the next run comes later
    cleaned = _python(CLEANER, tmp_path, "1")
    assert cleaned.returncode == 0, cleaned.stderr
    removed = json.loads(cleaned.stdout)
    assert sorted(os.path.basename(p) for p in removed) == sorted(left)
    assert os.listdir(tmp_path / "trials") == []
    assert sorted(os.listdir(tmp_path)) == sorted([
        ".tmp-notours", ".final.tmp-worker1-123", ".tmp-0000000g-1-abcdef12", ".config",
        "state.json", "trials"])


def test_a_live_writers_temporaries_and_younger_ones_are_kept(tmp_path):
    # A writer that is still running (blocked inside atomic_directory).
    code = ("import os, sys, time\nfrom nasnet import io_utils\n"
            "with io_utils.atomic_directory(sys.argv[1]) as tmp:\n"
            "    print(tmp, flush=True)\n    time.sleep(60)\n")
    env = {**os.environ, "PYTHONPATH": REPO}
    live = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "export")], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        live_tmp = live.stdout.readline().strip()
        assert os.path.isdir(live_tmp)
        # This process started before the dead writer's file: too young to remove here.
        dead = _python(KILLED_WRITER, tmp_path / "x.json", "file")
        assert dead.returncode == -signal.SIGKILL
        young = [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]
        assert len(young) == 1
        assert io_utils.remove_stale_temporaries(str(tmp_path)) == []
        # A new process: the dead writer's file goes, the live writer's directory stays.
        time.sleep(0.2)
        cleaned = json.loads(_python(CLEANER, tmp_path, "1").stdout)
        assert [os.path.basename(p) for p in cleaned] == young
        assert os.path.isdir(live_tmp)
    finally:
        live.kill()
        live.wait()


def test_other_hosts_leftovers_wait_a_day_and_non_recursive_stays_at_the_top(tmp_path):
    other = tmp_path / ".tmp-00000000-1-abcdef12"          # another host's name tag
    other.write_text("x")
    os.utime(other, (time.time() - 3600, time.time() - 3600))
    (tmp_path / "sub").mkdir()
    nested = tmp_path / "sub" / f".tmp-{io_utils._HOST}-999999999-abcdef12"
    nested.write_text("x")
    os.utime(nested, (1, 1))                          # older than anything; no such pid
    assert json.loads(_python(CLEANER, tmp_path, "0").stdout) == []
    os.utime(other, (1, 1))
    removed = json.loads(_python(CLEANER, tmp_path, "1").stdout)
    assert sorted(removed) == sorted([str(other), str(nested)])
    assert io_utils.remove_stale_temporaries(str(tmp_path / "missing")) == []


# -- URLs: the tf.io.gfile code path, run on the local disk through file:// ------------------
def test_atomic_writes_through_gfile(tmp_path):
    root = f"file://{tmp_path}"
    io_utils.atomic_write_json(f"{root}/sub/x.json", {"a": 1})
    assert io_utils.read_json(f"{root}/sub/x.json") == {"a": 1}
    assert os.listdir(tmp_path / "sub") == ["x.json"]
    with io_utils.atomic_directory(f"{root}/export", commit_last=("manifest.json",)) as tmp:
        assert tmp.startswith(f"{root}/.export.tmp-")
        io_utils.atomic_write_text(f"{tmp}/manifest.json", "{}")
        io_utils.atomic_write_bytes(f"{tmp}/saved_model/saved_model.pb", b"graph")
    assert sorted(os.listdir(tmp_path / "export")) == ["manifest.json", "saved_model"]
    assert (tmp_path / "export" / "saved_model" / "saved_model.pb").read_bytes() == b"graph"
    with pytest.raises(ValueError, match="already exists"):
        with io_utils.atomic_directory(f"{root}/export"):
            pytest.fail("the body must not run")
    with pytest.raises(RuntimeError, match="failed"):
        with io_utils.atomic_directory(f"{root}/export", overwrite=True) as tmp:
            io_utils.atomic_write_text(f"{tmp}/new.txt", "new")
            raise RuntimeError("failed")
    assert sorted(os.listdir(tmp_path / "export")) == ["manifest.json", "saved_model"]
    with io_utils.atomic_directory(f"{root}/export", overwrite=True) as tmp:
        io_utils.atomic_write_text(f"{tmp}/new.txt", "new")
    assert os.listdir(tmp_path / "export") == ["new.txt"]
    assert sorted(os.listdir(tmp_path)) == ["export", "sub"]            # no temporaries
    with pytest.raises(ValueError, match=r"file '.*nope.json' does not exist"):
        io_utils.read_text(f"{root}/nope.json")
