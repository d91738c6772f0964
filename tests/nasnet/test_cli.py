"""nasnet.cli: the conventions every binary shares (paths, exit codes, one-line errors)."""

import os
import subprocess
import sys
import textwrap

import pytest

from nasnet import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_user_path_is_relative_to_where_the_command_ran(monkeypatch, tmp_path):
    monkeypatch.delenv("BUILD_WORKING_DIRECTORY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli.user_path("out/x") == str(tmp_path / "out" / "x")
    monkeypatch.setenv("BUILD_WORKING_DIRECTORY", "/home/me/repo")  # bazel run
    assert cli.user_path("out/x") == "/home/me/repo/out/x"
    assert cli.user_path("/abs/x") == "/abs/x"
    assert cli.user_path("~/x") == os.path.expanduser("~/x")
    assert cli.user_path(None) is None and cli.user_path("") == ""


@pytest.mark.parametrize("url", ["gs://bucket/run", "s3://b/k", "hdfs://nn/path"])
def test_urls_are_not_rewritten(url, monkeypatch):
    monkeypatch.setenv("BUILD_WORKING_DIRECTORY", "/home/me")
    assert cli.is_url(url) and cli.user_path(url) == url and cli.display_path(url) == url
    assert not cli.is_url("dir/with://colon") and not cli.is_url("plain")


def test_display_path_is_short_only_below_the_callers_directory(monkeypatch):
    monkeypatch.setenv("BUILD_WORKING_DIRECTORY", "/home/me/repo")
    assert cli.display_path("/home/me/repo/out/x") == os.path.join("out", "x")
    assert cli.display_path("/elsewhere/x") == "/elsewhere/x"
    assert cli.display_path("/home/me/repository") == "/home/me/repository"


def test_check_output_dir(tmp_path):
    assert cli.check_output_dir(str(tmp_path / "new" / "deeper"), "--out") == str(
        tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()  # creates nothing
    a_file = tmp_path / "f"
    a_file.write_text("x")
    with pytest.raises(ValueError, match=r"--out=.*/f is a file, not a directory"):
        cli.check_output_dir(str(a_file), "--out")
    with pytest.raises(ValueError, match="is a file, so the directory cannot be made"):
        cli.check_output_dir(str(a_file / "sub"), "--out")
    with pytest.raises(ValueError, match="pseudo file system"):
        cli.check_output_dir("/proc/self/out", "--out")
    assert cli.check_output_dir("gs://bucket/x", "--out") == "gs://bucket/x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_check_output_dir_unwritable(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ValueError, match="is not writable"):
        cli.check_output_dir(str(locked / "out"), "--out")


def _raise(exc):
    def main(argv):
        raise exc
    return main


@pytest.mark.parametrize("exc, code, text", [
    (ValueError("bad  value\n'x'"), cli.EXIT_USAGE, "prog: error: bad value 'x'"),
    (cli.UsageError("--workdir is required"), cli.EXIT_USAGE, "prog: error: --workdir is required"),
    (cli.OperationFailed("verify found 1 damaged entry"), cli.EXIT_FAILED,
     "prog: error: verify found 1 damaged entry"),
    (KeyboardInterrupt(), cli.EXIT_INTERRUPTED, "prog: interrupted"),
    (cli.Interrupted("interrupted; run the same command to resume"), cli.EXIT_INTERRUPTED,
     "prog: interrupted; run the same command to resume"),
])
def test_call_maps_exceptions_to_one_line_and_an_exit_code(capsys, exc, code, text):
    assert cli.call(_raise(exc), ["prog"], "prog") == code
    err = capsys.readouterr().err
    assert err.strip() == text and "Traceback" not in err


def test_call_passes_the_exit_code_and_refuses_positional_arguments(capsys):
    assert cli.call(lambda argv: None, ["prog"], "prog") == cli.EXIT_OK
    assert cli.call(lambda argv: 3, ["prog"], "prog") == 3
    assert cli.call(lambda argv: 0, ["prog", "extra"], "prog") == cli.EXIT_USAGE
    assert "unexpected arguments ['extra']" in capsys.readouterr().err
    assert cli.call(lambda argv: len(argv), ["prog", "a", "b"], "prog", positional=True) == 3


def test_a_bug_still_raises():
    with pytest.raises(ZeroDivisionError):
        cli.call(lambda argv: 1 / 0, ["prog"], "prog")


def test_traceback_on_request(capsys, monkeypatch):
    monkeypatch.setenv("NASNET_TRACEBACK", "1")
    cli.call(_raise(ValueError("bad")), ["prog"], "prog")
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("prog: error: bad")


@pytest.mark.parametrize("args, code, text", [
    (["--count=abc"], 2, "tool: error: flag --count=abc: invalid literal"),
    (["--nonesuch=1"], 2, "tool: error: Unknown command line flag 'nonesuch'"),
    ([], 2, "tool: error: flag --name=None: Flag --name must have a value other than None."),
    (["--name=x", "--count=3"], 3, ""),
])
def test_run_gives_absl_flag_errors_one_line_and_exit_2(tmp_path, args, code, text):
    script = tmp_path / "tool.py"
    script.write_text(textwrap.dedent("""
        from absl import flags
        from nasnet import cli
        flags.DEFINE_integer("count", 0, "a number")
        flags.DEFINE_string("name", None, "a name")
        flags.mark_flag_as_required("name")
        cli.run(lambda argv: flags.FLAGS.count, "tool")
    """))
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
    assert proc.returncode == code, proc.stderr
    if text:
        assert proc.stderr.strip().startswith(text) and len(proc.stderr.strip().splitlines()) == 1
