"""The fidelity layout: our cells beside the paper's numbers, the error, and its findings."""

import json
import math

import pytest

import bohb_das.cli as cli
from bohb_das.fidelity import findings_table, medians, summary_table, versus_table
from bohb_das.paper import PAPER, TABLE1, TABLE1_ORDERINGS
from tests.test_results import record


def records_at(profile, value):
    """Three trials per Table 1 cell, all at ``value(paper median)``."""
    return [record(method=c.method, ops=c.ops, formation=c.formation, hparams=c.hparams, profile=profile,
                   arch=value(stats.median), seed=seed)
            for c, stats in TABLE1.items() for seed in range(3)]


def test_an_exact_reproduction_has_no_error_and_holds_every_finding():
    records = records_at("exact", lambda m: m) + records_at("mirror", lambda m: 40.0 - m) + records_at("paper", lambda m: m)
    versus = versus_table(medians(records))
    assert len(versus) == 16 and list(versus.columns) == ["published", "exact", "mirror", "paper"]  # a profile named paper
    assert (versus["published"] == versus["exact"]).all()
    summary = summary_table(medians(records))
    assert summary.loc["exact", "MAE median"] == 0 and summary.loc["exact", "bias median"] == 0
    assert summary.loc["exact", "findings held"] == f"{len(TABLE1_ORDERINGS)}/{len(TABLE1_ORDERINGS)}"
    assert summary.loc["mirror", "findings held"] == f"0/{len(TABLE1_ORDERINGS)}"
    expected = sum(abs(40.0 - 2 * s.median) for s in TABLE1.values()) / 16
    assert summary.loc["mirror", "MAE median"] == pytest.approx(expected)
    kept, pairs = summary.loc["mirror", "orderings kept"].split("/")
    assert kept == "0" and int(pairs) > 20
    findings = findings_table(medians(records))
    assert (findings["exact"] == findings["published"]).all()
    assert findings["mirror"].tolist() == pytest.approx((-findings["published"]).tolist())


def test_cells_the_paper_does_not_publish_are_left_out():
    records = records_at("p", lambda m: m) + [record(method="gd_only", ops="all", profile="p", arch=99.0)]
    assert 99.0 not in versus_table(medians(records))["p"].tolist()


def test_the_paper_reference_is_consistent():
    # Table 3's H1 rows are Table 1's DAS rows, Table 4's H1 rows Table 2's (one dict, no conflicts)
    assert len(PAPER) == 16 + 12 + 20 + 14 - 4 - 2
    assert all(s.max >= s.median and s.max >= s.mean for s in PAPER.values())
    assert all(not math.isnan(v) for s in PAPER.values() for v in s)


def test_the_fidelity_layout_refuses_trials_outside_the_paper(tmp_path, capsys):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(record(method="zarts_rs").to_json()) + "\n")
    assert cli.main(["table", "--from", str(path), "--layout", "fidelity"]) == 2
    assert "none of these trials falls in a cell" in capsys.readouterr().err
