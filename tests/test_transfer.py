"""The transfer layout: each hyperparameter set against a baseline set in the same cell."""

import json

import numpy as np
import pytest

import bohb_das.cli as cli
from bohb_das.errors import ConfigError
from bohb_das.fidelity import failure_interval
from bohb_das.transfer import transfer_table
from tests.test_results import record


def cell(hparams, values, ops="all", formation="blur", failed=0):
    return ([record(hparams=hparams, arch=v, ops=ops, formation=formation, seed=i) for i, v in enumerate(values)]
            + [record(hparams=hparams, arch=float("nan"), status="failed", ops=ops, formation=formation, seed=100 + i)
               for i in range(failed)])


def test_differences_and_failures_against_the_baseline_of_the_same_cell():
    """A set 1 dB above a constant baseline has every difference at +1 with a degenerate interval; a
    failed trial and one below the floor (29.2 dB in these records) count as failed searches."""
    records = (cell("tuned", [31.0] * 6) + cell("H1", [30.0] * 6)
               + cell("H1", [30.0, 30.5, 31.0, 31.5, 28.0], ops="good", failed=1)
               + cell("tuned", [32.0, 32.0, 32.0, 32.0, 32.0, 32.0], ops="good"))
    table = transfer_table(records, "H1", seed=0)
    assert table.index.names == ["formation", "ops", "hparams"]
    assert list(table.index) == [("blur", "all", "H1"), ("blur", "all", "tuned"), ("blur", "good", "H1"),
                                 ("blur", "good", "tuned")]  # the baseline first in each cell
    assert table.loc[("blur", "all", "tuned"), "median vs H1"] == "+1.00 [+1.00, +1.00]"
    assert table.loc[("blur", "all", "H1"), "mean vs H1"] == "--"
    good = table.loc[("blur", "good", "H1")]
    assert good["trials"] == 6 and good["median"] == pytest.approx(30.5) and good["mean"] == pytest.approx(30.2)
    low, high = failure_interval(2, 6)
    assert good["failed"] == f"2/6 [{low:.0%}, {high:.0%}]"
    gap = table.loc[("blur", "good", "tuned"), "max vs H1"]
    assert gap.startswith("+0.50 [")
    low, high = (float(x) for x in gap.split("[")[1].rstrip("]").split(","))
    assert low == pytest.approx(0.5) and 0.5 < high <= 32.0 - 28.0  # the resampled baseline's maximum: 28 to 31.5


def test_a_failure_threshold_replaces_the_floor_and_a_missing_baseline_is_refused():
    records = cell("H1", [20.0, 21.0, 25.0]) + cell("tuned", [26.0, 27.0, 28.0])
    table = transfer_table(records, "H1", failure_below=22.0)
    assert table.loc[("blur", "all", "H1"), "failed"].startswith("2/3 ")
    assert table.loc[("blur", "all", "tuned"), "failed"].startswith("0/3 ")
    with pytest.raises(ConfigError, match="--against H9: no trials of that hyperparameter set among these"):
        transfer_table(records, "H9")


def test_a_cell_without_the_baseline_has_no_differences():
    records = cell("H1", [30.0] * 3) + cell("tuned", [31.0] * 3, formation="downsampling")
    table = transfer_table(records, "H1")
    assert (table.loc[("downsampling", "all", "tuned")][["median vs H1", "mean vs H1", "max vs H1"]] == "--").all()


def test_the_cli_layout_reads_saved_trials_and_names_a_bad_baseline(tmp_path, capsys):
    trials = tmp_path / "trials.jsonl"
    rng = np.random.default_rng(0)
    records = cell("H1", list(30 + rng.normal(size=8))) + cell("tuned", list(31 + rng.normal(size=8)))
    trials.write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    out = tmp_path / "t.md"
    assert cli.main(["table", "--from", str(trials), "--layout", "transfer", "--output", str(out)]) == 0
    text = out.read_text()
    assert "| blur        | all   | tuned     |" in text and "difference to H1 in the same cell" in text
    assert "over 8 trials per cell" in text
    assert cli.main(["table", "--from", str(trials), "--layout", "transfer", "--against", "H2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--against H2: no trials of that hyperparameter set among these (H1, tuned)" in err[0]
