"""bohb-das report: one self-contained HTML page of a run, rendered by a real browser where one exists."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import bohb_das.cli as cli
from bohb_das.bohb.master import optimize
from bohb_das.bohb.report import write_report
from bohb_das.bohb.study import Study

ROOT = Path(__file__).resolve().parent.parent
FIGURES = 5  # incumbent, losses over time, budget correlation, PSNR scatter, marginals


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished 2-iteration run of the cheap objective (seconds)."""
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
    run = tmp_path_factory.mktemp("report") / "run"
    optimize(run, Study(iterations=2, min_budget=1, max_budget=3, width=8), n_workers=1, ping_interval=1, comm_timeout=5,
             worker_options={"evaluate": "bohb_helpers:quadratic", "master_grace": 3.0, "watch_interval": 0.5})
    return run


def test_the_report_is_one_self_contained_page_with_every_section(run_dir, tmp_path, capsys):
    output = tmp_path / "r.html"
    assert cli.main(["report", str(run_dir), "--output", str(output)]) == 0
    page = output.read_text()
    assert len(re.findall(r"<img class='figure' alt='[^']+' src='data:image/png;base64,", page)) == FIGURES
    assert "http://" not in page and "https://" not in page  # opens from disk, no network
    for heading in ("Incumbent over wall time", "Spearman rho", "Top configurations", "Failures and re-queued jobs",
                    "profile paper", "hpbandster 0.7.4"):
        assert heading in page
    assert "6 results (0 crashed, 0 failed)" in page
    # the helper's one-shot and architecture PSNR are the same number: rank correlation 1 per budget
    target = page.split("evaluations with both PSNRs")[1].split("</table>")[0]
    assert [re.sub("<[^>]+>", " ", row).split() for row in target.split("<tr>")[1:]] == [
        ["1", "3", "1.00"], ["3", "3", "1.00"], ["all", "6", "1.00"]]


def test_a_missing_run_is_refused_in_one_line(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path / "nope")]) == 2
    assert "not a run directory" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless browser (Debian's chromium package) here")
def test_a_headless_browser_renders_every_figure(run_dir, tmp_path):
    output = tmp_path / "r.html"
    assert cli.main(["report", str(run_dir), "--output", str(output)]) == 0
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", output.as_uri()], capture_output=True, text=True, timeout=120).stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None and f'data-figures-rendered="{FIGURES}"' in body[0] and f'data-figures="{FIGURES}"' in body[0]


def test_a_study_report_shows_every_cells_distribution(tmp_path):
    from test_tables import hand_made

    trials = tmp_path / "trials.jsonl"
    trials.write_text("".join(json.dumps({k: v for k, v in r.to_json().items() if k != "hparams_name"}) + "\n" for r in hand_made()))
    output = tmp_path / "study.html"
    assert cli.main(["report", "--from", str(trials), "--output", str(output)]) == 0
    page = output.read_text()
    assert "Distribution of the architecture PSNR in every cell" in page and "trials in" in page
    assert len(re.findall(r"<img class='figure'", page)) == 4  # two distributions, scatter, heatmap


def test_a_run_whose_every_evaluation_failed_still_gets_its_page(tmp_path):
    run = tmp_path / "run"
    optimize(run, Study(iterations=1, min_budget=1, max_budget=3, width=8), n_workers=1, ping_interval=1, comm_timeout=5,
             worker_options={"evaluate": "bohb_helpers:always_nan", "master_grace": 3.0, "watch_interval": 0.5})
    page = write_report(run).read_text()
    assert "4 failed or crashed evaluation(s)" in page and page.count("<img class='figure'") == FIGURES
