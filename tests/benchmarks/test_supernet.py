"""benchmarks/supernet.py: its variants (precision, XLA), bad arguments, and one short real run of
the quickstart's supernet under two precisions behind the slow marker."""

from __future__ import annotations

import json

import pytest

from benchmarks import supernet as bench


@pytest.mark.parametrize("text, precision, xla", [
    ("float32", "float32", False), ("mixed_float16+xla", "mixed_float16", True),
    (" mixed_bfloat16 ", "mixed_bfloat16", False)])
def test_a_variant_is_a_precision_with_or_without_xla(text, precision, xla):
    variant = bench.parse_variant(text)
    assert (variant.precision, variant.xla) == (precision, xla)
    assert variant.name == text.strip()


@pytest.mark.parametrize("argv, message", [
    (["--variants=auto"], "unknown variant 'auto': a precision of float32, mixed_float16, "
                          "mixed_bfloat16, optionally followed by +xla"),
    (["--variants=float32+jit"], "unknown variant 'float32+jit'"),
    (["--variants=,"], "--variants names no variant"),
    (["--sizes=huge"], "unknown size(s) ['huge']"),
    (["--steps=0"], "--steps and --rounds must be >= 1"),
])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_the_quickstart_supernet_under_two_precisions(tmp_path, capsys):
    path = tmp_path / "supernet.json"
    bench.main(["--sizes=tiny", "--steps=1", "--rounds=1", "--variants=float32,mixed_bfloat16",
                f"--output_json={path}"])
    rows = json.loads(path.read_text())["rows"]
    assert [r["variant"] for r in rows] == ["float32", "mixed_bfloat16"]
    for row in rows:
        assert row["traces"] == {"train": 1, "eval": 1}
        assert row["changing"]["seconds_per_step"] > 0
        assert row["projection"]["search_hours"] > 0
    assert "| tiny (16 px, batch 32) | mixed_bfloat16 | CPU |" in capsys.readouterr().out
