"""report: progress lines, summary numbers, TensorBoard scalars, best.json and the report files."""

from __future__ import annotations

import glob
import io
import json
import os

import pytest

from nasnet.genotype import Genotype
from search_cifar import report
from search_cifar.space import NasnetCellSpace
from search_cifar.trial_store import SearchResult, Trial

SPACE = NasnetCellSpace(num_blocks=2, ops=("sep_conv_3x3", "max_pool_3x3", "identity"))


def make_trial(i, reward, status="ok", evaluation=None, **kw):
    choices = tuple((i + d) % n for d, n in enumerate(SPACE.num_choices))
    g = SPACE.decode(choices)
    genotype = dict(g.to_dict(), fingerprint=g.fingerprint())
    return Trial(id=i, choices=choices, key=g.fingerprint(), status=status,
                 reward=reward if status != "failed" else None,
                 error="ValueError: NaN loss at epoch 1\ntraceback" if status == "failed" else None,
                 evaluation=i if evaluation is None and status != "duplicate" else evaluation,
                 genotype=genotype if status != "duplicate" else None,
                 metrics={"num_params": 1000 + i, "node_id": "abcdef0123", "history": [1]}
                 if status == "ok" else {},
                 duration=10.0 + i if status != "duplicate" else None, **kw)


TRIALS = [make_trial(0, 0.30), make_trial(1, 0.50), make_trial(2, None, "failed"),
          make_trial(3, 0.90), make_trial(4, 0.70)]


def test_progress_lines():
    best = TRIALS[3]
    ok = report.progress_line(TRIALS[3], 4, 30, best, elapsed=125.0, evaluations_this_run=4)
    assert ok.startswith("[ 4/30] trial 3 ")
    assert "reward 0.9000" in ok and "best 0.9000 (trial 3)" in ok
    assert "2m05s" in ok and "1.9 trials/min" in ok and "13.0s" in ok and "node abcdef" in ok
    failed = report.progress_line(TRIALS[2], 3, 30, TRIALS[1], 60.0, 3)
    assert "FAILED: ValueError: NaN loss at epoch 1" in failed and "traceback" not in failed
    dup = Trial(id=5, choices=TRIALS[1].choices, key=TRIALS[1].key, status="duplicate",
                reward=0.5, duplicate_of=1)
    assert "duplicate of trial 1 (0.5000)" in report.progress_line(dup, 4, 30, best, 1.0, 4)
    assert "best -" in report.progress_line(TRIALS[2], 1, 30, None, 1.0, 1)


def test_summary_compares_the_best_with_the_random_proposals():
    s = report.summarize(TRIALS, num_random=2)
    assert s["best_reward"] == 0.9 and s["best_trial"] == 3
    assert s["num_evaluated"] == 5 and s["num_ok"] == 4 and s["num_failed"] == 1
    assert s["random_count"] == 2 and s["random_mean_reward"] == pytest.approx(0.4)
    assert s["later_count"] == 2 and s["later_mean_reward"] == pytest.approx(0.8)
    everything = report.summarize(TRIALS, num_random=None)
    assert everything["random_count"] == 4 and everything["later_mean_reward"] is None
    assert report.summarize([], None)["best_reward"] is None


def test_top_k_table_and_best_json(tmp_path):
    table = report.top_k_table(TRIALS, 2)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "rank" not in line]
    assert len(rows) == 2
    assert rows[0].startswith("| 1 | 3 | 0.9000 | 1,003 | 13.0 |") and TRIALS[3].key in rows[0]
    assert "sep 3x3(" in table or "max 3x3(" in table or "identity(" in table
    path = report.write_best_json(str(tmp_path), TRIALS, 3)
    top = json.load(open(path))["top"]
    assert [e["trial"] for e in top] == [3, 4, 1]
    assert "history" not in top[0]["metrics"]
    assert Genotype.from_dict(top[0]["genotype"]).fingerprint() == TRIALS[3].key


def test_write_report_writes_every_file(tmp_path):
    out = report.write_report(str(tmp_path), TRIALS, top_k=3, num_random=2, title="unit")
    best = Genotype.load(out["best_genotype"])
    assert best.fingerprint() == TRIALS[3].key and best.name == "unit trial 3"
    for path in [*out["best_cell"], out["rewards_plot"]]:
        assert os.path.getsize(path) > 0
    with open(out["rewards_plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.path.basename(p) for p in out["best_cell"]) == [
        "normal.png", "normal.svg", "reduction.png", "reduction.svg"]
    assert "top 3" in open(out["top_k"]).read()
    assert json.load(open(out["summary_json"]))["best_trial"] == 3
    assert not glob.glob(str(tmp_path / "report" / ".tmp-*"))  # atomic writes leave nothing


def test_a_report_with_no_successful_trial_still_writes_the_plot_and_table(tmp_path):
    out = report.write_report(str(tmp_path), [make_trial(0, None, "failed")], top_k=3)
    assert "best_genotype" not in out and os.path.exists(out["rewards_plot"])
    assert out["summary"]["best_reward"] is None


class _Controller:
    def diagnostics(self):
        return {"loss": 0.25, "entropy": 3.5, "skipped": "text", "nan": float("nan")}


def _scalars(logdir):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    out = {}
    for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
        for event in EventFileLoader(path).Load():
            for value in event.summary.value:
                number = value.simple_value if value.HasField("simple_value") else None
                if number is None and value.HasField("tensor"):
                    number = value.tensor.float_val[0]
                out.setdefault(value.tag, []).append((event.step, number))
    return out


def test_reporter_prints_writes_best_json_and_tensorboard(tmp_path):
    stream = io.StringIO()
    reporter = report.Reporter(str(tmp_path), budget=5, strategy=_Controller(), top_k=2,
                               stream=stream, clock=iter(range(0, 1000, 30)).__next__)
    for n in range(1, len(TRIALS) + 1):
        reporter(TRIALS[n - 1], SearchResult(trials=TRIALS[:n], num_evaluated=n,
                                             stopped="budget", strategy=None))
    reporter.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5 and lines[-1].startswith("[5/5] trial 4")
    assert [e["trial"] for e in json.load(open(tmp_path / "best.json"))["top"]] == [3, 4]
    scalars = _scalars(str(tmp_path / "tensorboard"))
    assert [s for s, _ in scalars["search/reward"]] == [0, 1, 3, 4]
    assert scalars["search/best_reward"][-1] == (4, pytest.approx(0.9))
    assert scalars["search/failed"][-1] == (4, 1)
    assert scalars["controller/loss"][0] == (0, 0.25)
    assert "controller/entropy" in scalars and "controller/skipped" not in scalars
    assert "controller/nan" not in scalars


def test_a_reporter_that_records_nothing_leaves_no_event_file(tmp_path):
    # A run that stops before its first trial (interrupted, or failed) adds no empty file.
    reporter = report.Reporter(str(tmp_path), budget=5, stream=io.StringIO())
    reporter.close()
    assert not glob.glob(str(tmp_path / "tensorboard" / "*"))


def test_strategy_without_diagnostics_logs_no_controller_scalars():
    assert report.strategy_diagnostics(object()) == {}
    assert report.format_duration(59) == "59s" and report.format_duration(3725) == "1h02m"


def _staged(i, reward, epochs, status="ok"):
    """A trial of a search with early stopping (rungs 1 and 3 of 9 epochs)."""
    from search_cifar.trial_store import Fidelity, RungDecision
    decisions = [RungDecision(e, 0.1 * e, "continue" if e < epochs else "stop")
                 for e in (1, 3) if e <= epochs]
    rung = {1: 0, 3: 1, 9: 2, 2: 0}[epochs]
    return make_trial(i, reward, status, fidelity=Fidelity(
        epochs=epochs, max_epochs=9, rung=rung, stopped_early=status == "ok" and epochs < 9,
        decisions=tuple(decisions)))


STAGED = [_staged(0, 0.30, 1), _staged(1, 0.80, 9), _staged(2, 0.45, 3),
          _staged(3, None, 2, "failed"), _staged(4, 0.85, 9), _staged(5, 0.20, 1)]


def test_with_early_stopping_the_lines_table_and_summary_show_fidelity(tmp_path, monkeypatch):
    line = report.progress_line(STAGED[0], 1, 30, STAGED[0], 1.0, 1)
    assert "reward 0.3000 [1/9 epochs, stopped]" in line
    assert "reward 0.8000 [9/9 epochs]  best" in report.progress_line(STAGED[1], 2, 30,
                                                                      STAGED[1], 1.0, 2)
    table = report.top_k_table(STAGED, 3)
    assert "| rank | trial | reward | epochs | params |" in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "rank" not in line]
    assert rows[0].startswith("| 1 | 4 | 0.8500 | 9/9 | 1,004 |")
    assert rows[2].startswith("| 3 | 2 | 0.4500 | 3/9 stopped | 1,002 |")
    assert "epochs" not in report.top_k_table(TRIALS, 3)  # no column without early stopping
    s = report.summarize(STAGED, num_random=None)
    # Trained 1 + 9 + 3 + 2 + 9 + 1 = 25; the stopped save 8 + 6 + 8 = 22 (the failed child
    # saves nothing): 47 if every child had trained to the end.
    assert (s["child_epochs"], s["num_stopped_early"], s["child_epochs_saved"],
            s["child_epochs_if_full"]) == (25, 3, 22, 47)
    assert s["child_epochs_saved_fraction"] == pytest.approx(22 / 47)
    plain = report.summarize(TRIALS, None)
    assert plain["child_epochs_saved"] is None and plain["num_stopped_early"] is None
    # best.json says at which fidelity each of the best was evaluated.
    top = json.load(open(report.write_best_json(str(tmp_path), STAGED, 3)))["top"]
    assert top[2]["fidelity"] == {"epochs": 3, "max_epochs": 9, "rung": 1, "stopped_early": True}
    # The plot rings the stopped children by the rung they stopped at.
    from matplotlib import pyplot
    labels = []
    close = pyplot.close

    def keep_legend(fig):
        labels.extend(t.get_text() for t in fig.axes[0].get_legend().get_texts())
        close(fig)

    monkeypatch.setattr(pyplot, "close", keep_legend)
    out = report.write_report(str(tmp_path), STAGED, top_k=3, num_random=None, pictures=False)
    assert "stopped after 1 epoch (2)" in labels and "stopped after 3 epochs (1)" in labels
    assert json.load(open(out["summary_json"]))["child_epochs_saved"] == 22
