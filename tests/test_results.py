import json
import math

import pytest

from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams, load_preset
from bohb_das.profiles import Profile
from bohb_das.results import correlation, group_statistics, hparams_label, label, load_trials, steps_to_beat, summarize


def record(method="das", arch=20.0, one_shot=15.0, status="ok", seed=0, formation="blur", hparams="H1", seconds=2.0,
           ops="all", profile="spec-v1"):
    """A labelled trial record of the given numbers, under spec-v1's settings named ``profile``."""
    return label({
        "seed": seed, "status": status, "reason": None if status == "ok" else "diverged",
        "one_shot_psnr": one_shot, "arch_psnr": arch, "seconds": seconds, "backprojection_psnr": 29.2,
        "spec": {"method": method, "formation": formation, "ops": ops, "space": "sequential",
                 "epochs": 1, "width": 4, "hparams": HParams().to_dict(), "k": None,
                 "profile": Profile.from_mapping({"name": profile}).to_dict()},
    }, hparams)


def test_summarize_known_values():
    assert summarize([1.0, 2.0, 6.0, math.nan]) == {"n": 3, "failed": 1, "max": 6.0, "mean": 3.0, "median": 2.0}


def test_correlation_of_known_relations():
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    linear = correlation(x, [2 * v + 1 for v in x])
    assert linear["pearson"] == pytest.approx(1) and linear["spearman"] == pytest.approx(1)
    assert linear["pearson_low"] == pytest.approx(1) and linear["pearson_high"] == pytest.approx(1)
    cubic = correlation(x, [v**3 for v in x])
    assert cubic["spearman"] == pytest.approx(1) and 0.9 < cubic["pearson"] < 1
    reversed_ = correlation(x, [-v for v in x] + [math.nan], seed=1)  # unpaired NaN is dropped
    assert reversed_["spearman"] == pytest.approx(-1)


def test_correlation_interval_is_seeded_and_brackets_the_estimate():
    x = [1.0, 3.0, 2.0, 5.0, 4.0, 7.0, 6.0, 9.0]
    y = [2.0, 1.0, 4.0, 3.0, 6.0, 5.0, 9.0, 7.0]
    a, b = correlation(x, y, seed=3), correlation(x, y, seed=3)
    assert a == b
    assert a["pearson_low"] <= a["pearson"] <= a["pearson_high"]
    assert a["spearman_low"] <= a["spearman"] <= a["spearman_high"]


@pytest.mark.parametrize("x, y", [([1.0, 2.0], [1.0, 2.0]), ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]), ([], [])])
def test_correlation_undefined_is_nan(x, y):
    assert all(math.isnan(v) for v in correlation(x, y).values())


def test_steps_to_beat_is_the_geometric_mean_wait():
    assert steps_to_beat([10.0, 20.0, 30.0, 40.0], 25.0) == 2.0
    assert steps_to_beat([10.0, math.nan, 30.0, 40.0], 35.0) == 4.0  # a failed random trial is a step
    assert steps_to_beat([10.0, 20.0], 25.0) == math.inf
    assert math.isnan(steps_to_beat([10.0], math.nan))


def test_group_statistics_on_hand_made_trials():
    das = [record(arch=a, one_shot=o, seed=s) for s, (a, o) in enumerate([(10, 1), (20, 2), (30, 3), (40, 4)])]
    das.append(record(arch=math.nan, one_shot=math.nan, status="failed", seed=9))
    random = [record("random", arch=a, one_shot=math.nan, seed=s, seconds=1.0) for s, a in enumerate([5, 26, 8, 27, 9, 1])]
    other = [record(arch=50, hparams="H2")]
    rows = {(r["method"], r["hparams_name"]): r for r in group_statistics(das + random + other)}
    row = rows[("das", "H1")]
    assert (row["trials"], row["failed"]) == (5, 1)
    assert (row["arch_max"], row["arch_mean"], row["arch_median"]) == (40, 25, 25)
    assert (row["one_shot_max"], row["one_shot_median"]) == (4, 2.5)
    assert row["pearson"] == pytest.approx(1) and row["spearman"] == pytest.approx(1)
    assert row["seconds"] == 2.0
    assert row["random_steps_to_beat_median"] == 3.0  # 2 of 6 random trials beat the DAS median 25
    assert math.isnan(rows[("random", "H1")]["random_steps_to_beat_median"])
    assert math.isnan(rows[("das", "H2")]["random_steps_to_beat_median"])  # no random trials with H2


def test_load_trials_reads_json_lines_and_labels_presets(tmp_path):
    path = tmp_path / "t.jsonl"
    spec = {"method": "das", "formation": "blur", "ops": "good", "space": "sequential", "epochs": 1, "width": 4,
            "hparams": load_preset("H2").to_dict(), "k": None}
    lines = [{"seed": s, "status": "ok", "one_shot_psnr": 1.0, "arch_psnr": None, "seconds": 1, "spec": spec} for s in (0, 1)]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    records = load_trials([path])
    assert [r.hparams_name for r in records] == ["H2", "H2"]
    assert records[0].ops == "good" and math.isnan(records[0].arch_psnr)  # JSON null: absent
    assert records[0].to_json()["hparams_name"] == "H2" and records[0].to_json()["spec"] == spec


@pytest.mark.parametrize("text, message", [
    ('{"seed": 0}\n', "needs the fields"),
    ("not json\n", "not a JSON trial record"),
    ("[1, 2]\n", "needs the fields"),
    ("\n", "no trial records"),
])
def test_malformed_trial_files_are_config_errors(tmp_path, text, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_trials([path])


def test_missing_trial_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_trials([tmp_path / "none.jsonl"])


def test_unknown_hparams_get_a_stable_custom_label():
    values = HParams(alpha_lr=0.0123).to_dict()
    assert hparams_label(values) == hparams_label(dict(values)) and hparams_label(values).startswith("custom-")
