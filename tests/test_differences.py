"""The differences layout: every value of one axis against a reference in otherwise equal cells."""

import json

import numpy as np
import pytest

import bohb_das.cli as cli
from bohb_das.errors import ConfigError
from bohb_das.fidelity import failure_interval
from bohb_das.differences import differences_table, parse_against
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
    table = differences_table(records, "hparams", "H1", seed=0)
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
    table = differences_table(records, "hparams", "H1", failure_below=22.0)
    assert table.loc[("blur", "all", "H1"), "failed"].startswith("2/3 ")
    assert table.loc[("blur", "all", "tuned"), "failed"].startswith("0/3 ")
    with pytest.raises(ConfigError, match="--against hparams=H9: no trials with that hparams among these"):
        differences_table(records, "hparams", "H9")


def test_a_cell_without_the_baseline_has_no_differences():
    records = cell("H1", [30.0] * 3) + cell("tuned", [31.0] * 3, formation="downsampling")
    table = differences_table(records, "hparams", "H1")
    assert (table.loc[("downsampling", "all", "tuned")][["median vs H1", "mean vs H1", "max vs H1"]] == "--").all()


def test_the_cli_layout_reads_saved_trials_and_names_a_bad_baseline(tmp_path, capsys):
    trials = tmp_path / "trials.jsonl"
    rng = np.random.default_rng(0)
    records = cell("H1", list(30 + rng.normal(size=8))) + cell("tuned", list(31 + rng.normal(size=8)))
    trials.write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    out = tmp_path / "t.md"
    assert cli.main(["table", "--from", str(trials), "--layout", "differences", "--output", str(out)]) == 0
    text = out.read_text()
    assert "| blur        | all   | tuned     |" in text and "per hparams and its difference to H1 in otherwise equal cells" in text
    assert "over 8 trials per cell" in text
    assert cli.main(["table", "--from", str(trials), "--layout", "differences", "--against", "H2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--against hparams=H2: no trials with that hparams among these (H1, tuned)" in err[0]


def test_any_axis_is_compared_within_cells_equal_in_every_other_label():
    """ops=good against all: the two hyperparameter sets are two cells, each with its own reference."""
    records = (cell("H1", [30.0] * 4, ops="good") + cell("H1", [29.0] * 4)
               + cell("tuned", [31.0] * 4, ops="good") + cell("tuned", [33.0] * 4))
    table = differences_table(records, "ops", "good")
    assert table.index.names == ["formation", "hparams", "ops"]
    assert table.loc[("blur", "H1", "all"), "mean vs good"] == "-1.00 [-1.00, -1.00]"
    assert table.loc[("blur", "tuned", "all"), "mean vs good"] == "+2.00 [+2.00, +2.00]"
    assert table.loc[("blur", "tuned", "good"), "mean vs good"] == "--"


@pytest.mark.parametrize("text, parsed", [("H1", ("hparams", "H1")), ("space=sequential", ("space", "sequential")),
                                          ("method=das:gumbel", ("method", "das:gumbel"))])
def test_against_names_an_axis_or_a_hyperparameter_set(text, parsed):
    assert parse_against(text) == parsed


@pytest.mark.parametrize("text, message", [("seed=3", "unknown axis 'seed'"), ("ops=", "no value after '='")])
def test_a_bad_against_is_one_clear_error(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_against(text)
