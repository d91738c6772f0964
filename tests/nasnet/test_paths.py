"""User paths: relative ones against the caller's directory, URLs never rewritten."""

import os

import pytest

from nasnet import paths


def test_a_relative_path_is_made_absolute_against_the_current_directory(tmp_path,
                                                                          monkeypatch):
    monkeypatch.delenv("BUILD_WORKING_DIRECTORY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths.user_path("out/run") == str(tmp_path / "out" / "run")
    assert paths.user_path("out/../run/") == str(tmp_path / "run")
    assert paths.user_path("/abs/run") == "/abs/run"


def test_under_bazel_run_a_relative_path_is_the_callers(tmp_path, monkeypatch):
    monkeypatch.setenv("BUILD_WORKING_DIRECTORY", str(tmp_path / "repo"))
    monkeypatch.chdir(tmp_path)            # bazel runs the binary elsewhere
    assert paths.user_path("out/zoo") == str(tmp_path / "repo" / "out" / "zoo")
    assert paths.caller_directory() == str(tmp_path / "repo")


def test_home_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.user_path("~/runs") == str(tmp_path / "runs")


@pytest.mark.parametrize("url", ["gs://bucket/run", "gs://bucket/a/../b", "s3://b/k",
                                 "file:///tmp/x", "hdfs://namenode:8020/d"])
def test_a_url_is_not_rewritten(url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUILD_WORKING_DIRECTORY", str(tmp_path))
    assert paths.is_url(url)
    assert paths.user_path(url) == url
    assert os.path.abspath(url) != url     # what the binaries did before


@pytest.mark.parametrize("path", ["gs:/bucket", "run:1/x", "/gs://x", "1s://x", "", None, 3])
def test_what_is_not_a_url(path):
    assert not paths.is_url(path)


def test_none_and_empty_pass_through_and_other_types_are_refused():
    assert paths.user_path(None) is None and paths.user_path("") == ""
    with pytest.raises(ValueError, match="a path must be a string, got 3"):
        paths.user_path(3)
