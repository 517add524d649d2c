"""The fidelity layout: our cells beside the paper's numbers, the error, and its findings."""

import json
import math

import pytest

import bohb_das.cli as cli
from bohb_das.fidelity import (TABLE1_FINDINGS, columns, failure_interval, findings_table, inherit, summary_table,
                               verdicts, versus_table)
from bohb_das.paper import PAPER, TABLE1, TABLE1_ORDERINGS, Cell
from bohb_das.profiles import Profile
from bohb_das.results import label
from tests.test_results import record

ORDERINGS = len(TABLE1_ORDERINGS)


def records_at(profile, value, trials=3):
    """Trials per Table 1 cell at ``value(paper median)``."""
    return [record(method=c.method, ops=c.ops, formation=c.formation, hparams=c.hparams, profile=profile,
                   arch=value(stats.median), seed=seed)
            for c, stats in TABLE1.items() for seed in range(trials)]


def test_an_exact_reproduction_of_the_medians_has_no_median_error_and_holds_every_ordering():
    records = records_at("exact", lambda m: m) + records_at("mirror", lambda m: 40.0 - m) + records_at("paper", lambda m: m)
    ours = columns(records)
    versus = versus_table(ours)
    assert len(versus) == 16 and list(versus.columns) == ["published", "exact", "mirror", "paper"]  # a profile named paper
    assert (versus["published"] == versus["exact"]).all()
    judged = verdicts(ours)
    summary = summary_table(ours, judged)
    assert summary.loc["exact", "MAE median"] == 0 and summary.loc["exact", "bias median"] == 0
    assert [v.held for v in judged["exact"][:ORDERINGS]] == [True] * ORDERINGS
    assert [v.held for v in judged["mirror"][:ORDERINGS]] == [False] * ORDERINGS
    expected = sum(abs(40.0 - 2 * s.median) for s in TABLE1.values()) / 16
    assert summary.loc["mirror", "MAE median"] == pytest.approx(expected)
    every = [abs(m - getattr(s, stat)) for s in TABLE1.values() for m in [s.median] for stat in ("max", "mean", "median")]
    assert summary.loc["exact", "MAE (max, mean, median)"] == pytest.approx(sum(every) / 48)
    kept, pairs = summary.loc["mirror", "orderings kept"].split("/")
    assert kept == "0" and int(pairs) > 20
    findings = findings_table(ours, judged)
    assert findings["exact"].tolist()[:ORDERINGS] == [f"{float(p):.2f} holds" for p in findings["published"][:ORDERINGS]]
    assert all(text.endswith("contradicted") for text in findings["mirror"][:ORDERINGS])


def test_the_spread_findings_read_the_tail_the_band_and_the_floor():
    """Blur DAS all ops: 30 trials at 20 dB with 10 at 5 dB (floor 10 dB) is a failure tail (mean 16.25,
    median 20); no spread is none. Good ops within 1 dB of their median: no tail. Random all ops at
    5-9 dB against the floor: below it."""
    def cell_records(profile, cell, values):
        return [_labelled(Profile(name=profile), cell.method, cell.ops, v, seed=i) for i, v in enumerate(values)]
    tail = Cell("sequential", "all", "das", "H1", "blur")
    good = Cell("sequential", "good", "das", "H1", "blur")
    random_all = Cell("sequential", "all", "random", "H1", "blur")
    records = (cell_records("tailed", tail, [20.0 + 0.01 * i for i in range(30)] + [5.0] * 10)
               + cell_records("flat", tail, [20.0 + 0.01 * i for i in range(40)])
               + cell_records("tailed", good, [21.0 + 0.01 * i for i in range(40)])
               + cell_records("flat", good, [21.0 + 0.01 * i for i in range(30)] + [11.0] * 10)
               + cell_records("tailed", random_all, [5.0 + 0.1 * i for i in range(40)]))
    judged = verdicts(columns(records))
    names = [f.name for f in TABLE1_FINDINGS]
    at = lambda column, words: judged[column][next(i for i, n in enumerate(names) if words in n)]  # noqa: E731
    assert at("tailed", "failure tail").held and at("tailed", "failure tail").status == "holds"
    assert not at("flat", "failure tail").held and at("flat", "failure tail").status == "contradicted"
    assert at("tailed", "blur: DAS good ops has no tail").status == "holds"
    assert not at("flat", "blur: DAS good ops has no tail").held
    assert at("tailed", "below the back-projection").held and at("tailed", "below the back-projection").status == "holds"
    assert at("flat", "below the back-projection").status == "--"


def test_failure_shares_carry_an_exact_interval():
    low, high = failure_interval(5, 20)
    assert low < 0.25 < high and low == pytest.approx(0.0866, abs=1e-3) and high == pytest.approx(0.4910, abs=1e-3)
    assert failure_interval(0, 24)[0] == 0


def _labelled(profile: Profile, method: str, ops: str, arch: float, seed: int = 0):
    """A labelled record under ``profile`` (its settings, not only its name), floor 10 dB."""
    return label({"seed": seed, "status": "ok", "reason": None, "one_shot_psnr": 1.0, "arch_psnr": arch, "seconds": 1.0,
                  "backprojection_psnr": 10.0,
                  "spec": {"method": method, "formation": "blur", "ops": ops, "space": "sequential", "epochs": 1,
                           "width": 4, "hparams": {}, "k": None, "profile": profile.to_dict()}}, "H1")


def test_a_reading_inherits_the_base_trials_only_of_cells_it_cannot_enter():
    base = Profile(name="base")
    search = Profile(name="search", alpha_init_std=1.0)
    harmful = Profile(name="harmful", roll_shift=3)
    records = [_labelled(base, m, o, 20.0) for m in ("das", "random") for o in ("good", "all")]
    records += [_labelled(search, "das", "all", 15.0), _labelled(harmful, "random", "all", 12.0)]
    searches, is_harmful = (lambda m: m == "das"), (lambda o: o == "all")
    filled, notes = inherit(records, "base", searches, is_harmful)
    have = {(r.profile, r.method, r.ops): r.arch_psnr for r in filled}
    assert have[("search", "random", "good")] == have[("search", "random", "all")] == 20.0  # no search: base's
    assert ("search", "das", "good") not in have and have[("search", "das", "all")] == 15.0  # it searches: its own only
    assert have[("harmful", "das", "good")] == have[("harmful", "random", "good")] == 20.0  # no harmful op: base's
    assert ("harmful", "das", "all") not in have
    assert notes == ["search: random/all/blur, random/good/blur", "harmful: das/good/blur, random/good/blur"]
    with pytest.raises(Exception, match="no trials of profile 'nope'"):
        inherit(records, "nope", searches, is_harmful)


def test_cells_the_paper_does_not_publish_are_left_out():
    records = records_at("p", lambda m: m) + [record(method="gd_only", ops="all", profile="p", arch=99.0)]
    assert 99.0 not in versus_table(columns(records))["p"].tolist()


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
