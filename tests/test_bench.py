"""``bohb-das bench`` end to end at a tiny scale: every figure is measured and written where asked."""

from __future__ import annotations

import json

import pytest

from bohb_das.bench import PAPER_BOHB, hyperband_rungs, job_seconds, table1_hours
from bohb_das.cli import main


@pytest.mark.slow
def test_bench_writes_every_figure_to_the_given_path(tmp_path, capsys):
    out = tmp_path / "b.md"
    assert main(["bench", "--trials", "1", "2", "--epochs", "1", "--width", "4", "--paper-batch", "2",
                 "--slots", "2", "--device", "cpu", "--output", str(out)]) == 0
    figures = json.loads(out.with_suffix(".json").read_text())
    assert {(r["phase"], r["trials"]) for r in figures["rows"]} == {(p, t) for p in ("search", "retrain") for t in (1, 2)}
    assert set(figures["trial_seconds"]) == {"1", "2"} and figures["table1_hours"] > 0
    hours = figures["bohb_hours"]
    assert set(hours) == {f"{k}{s}" for k in ("one job per worker", "rungs batched") for s in ("", ", no retraining")}
    assert 0 < hours["one job per worker, no retraining"] < hours["one job per worker"]
    slots = figures["slots"]
    assert slots["single"]["results"] == slots["slotted"]["results"] == 13  # 9 + 3 + 1 configurations
    assert slots["ratio"] > 0 and len(figures["load"]) == 2
    text = out.read_text()
    assert "configurations/min" in text and "load average" in text and "--slots 2" in text


def test_bench_writes_into_the_current_directory_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--trials", "1", "--epochs", "1", "--width", "4", "--paper-batch", "1", "--slots", "0",
                 "--device", "cpu"]) == 0
    assert (tmp_path / "bench-cpu.md").exists() and "slots" not in json.loads((tmp_path / "bench-cpu.json").read_text())


def test_the_paper_bohb_schedule_has_the_papers_size():
    rungs = hyperband_rungs(**PAPER_BOHB)
    assert rungs[:3] == [(9, 6), (3, 17), (1, 50)]
    assert sum(n * epochs for n, epochs in rungs) == 17308  # about 17,000 search epochs (issue 10)


def test_job_time_interpolates_between_measured_batch_sizes():
    timings = {(phase, t): (0.01 * t, 0.1 * t) for phase in ("search", "retrain") for t in (1, 8)}
    per_step = 2 * 19 * 0.01  # search + retraining steps of one epoch at T = 1
    assert job_seconds(timings, 1, 1) == pytest.approx(per_step + 0.2)
    assert job_seconds(timings, 4, 1) == pytest.approx(4 * (per_step + 0.2))  # linear between 1 and 8
    assert job_seconds(timings, 16, 1) == pytest.approx(16 * (per_step + 0.2))  # beyond: in proportion to T


def test_table1_costs_its_searches_and_retrainings_apart():
    """Table 1 per seed: 4 DAS searches and 32 retrainings (both formations), each phase at its own
    measured step and evaluation time."""
    timings = {("search", 4): (0.2, 3.0), ("retrain", 4): (0.05, 1.0)}
    search, retrain = 50 * 19 * 0.2 + 3.0, 50 * 19 * 0.05 + 1.0  # one batch of 4 trials, paper scale
    assert table1_hours(timings, 4) == pytest.approx(75 / 4 * (4 * search + 32 * retrain) / 3600)
