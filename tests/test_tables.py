import io
import json
import math

import pandas as pd
import pytest

import bohb_das.cache as cache_module
from bohb_das.cache import TrialCache
from bohb_das.cli import main
from bohb_das.errors import ConfigError
from bohb_das.experiment import Experiment
from bohb_das.hparams import HParams
from bohb_das.profiles import Profile
from bohb_das.results import label
from bohb_das.tables import Grid, comparison_table, paper_table, render, split_variant, stats_table
from bohb_das.trial import TrialSpec
from tests.test_results import record

TINY = dict(epochs=1, width=4)


def hand_made():
    """Two hyperparameter sets x two formations, three DAS trials each, with known statistics."""
    out = []
    for h, base in (("H1", 10.0), ("H2", 20.0)):
        for formation, shift in (("blur", 0.0), ("downsampling", 100.0)):
            for seed, delta in enumerate((0.0, 1.0, 5.0)):
                out.append(record(arch=base + shift + delta, one_shot=delta, seed=seed, formation=formation, hparams=h))
    return out


def test_transfer_layout_has_a_row_per_hparams_and_max_mean_median_per_formation():
    table = paper_table(hand_made())
    assert list(table.index) == [("das", "H1"), ("das", "H2")]
    assert list(table.columns[:3]) == [("blur", "max"), ("blur", "mean"), ("blur", "median")]
    assert table.loc[("das", "H2"), ("blur", "max")] == 25.0
    assert table.loc[("das", "H1"), ("downsampling", "mean")] == pytest.approx(112.0)
    assert table.loc[("das", "H1"), ("downsampling", "median")] == 111.0
    one_shot = paper_table(hand_made(), target="one-shot")
    assert one_shot.loc[("das", "H1"), ("blur", "max")] == 5.0


def test_methods_layout_rows_are_methods_when_hparams_do_not_vary():
    records = [r for r in hand_made() if r.hparams_name == "H1"]
    records += [record("random", arch=3.0, one_shot=math.nan, seed=s) for s in range(2)]
    table = paper_table(records)
    assert table.index.names == ["method"] and list(table.index) == ["das", "random"]
    assert math.isnan(table.loc["random", ("downsampling", "max")])


def markdown_cells(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in text.splitlines()]


def test_formats():
    table = paper_table(hand_made())
    rows = markdown_cells(render(table, "markdown"))
    assert rows[0][:5] == ["method", "hparams", "blur max", "blur mean", "blur median"]
    assert [c[0] + c[-1] for c in rows[1][:3]] == [":-", ":-", "-:"]  # names left, numbers right
    assert rows[2][:5] == ["das", "H1", "15.00", "12.00", "11.00"]
    csv = pd.read_csv(io.StringIO(render(table, "csv")), header=[0, 1], index_col=[0, 1])
    assert csv.loc[("das", "H2"), ("blur", "max")] == 25.0
    latex = render(table, "latex")
    assert "\\begin{tabular}" in latex and "\\multicolumn{3}{c}{blur}" in latex and "25.00" in latex
    with pytest.raises(ConfigError, match="format must be one of"):
        render(table, "html")


def test_stats_layout_has_every_statistic():
    table = stats_table(hand_made())
    for col in ("pearson", "pearson_low", "spearman_high", "failed", "seconds", "random_steps_to_beat_median"):
        assert col in table.columns
    assert table["pearson"].iloc[0] == pytest.approx(1.0)
    assert markdown_cells(render(table, "markdown"))[2][:3] == ["das", "H1", "blur"]


def test_markdown_shows_missing_values_as_dashes_and_keeps_number_like_names_as_text():
    records = [r for r in hand_made() if r.hparams_name == "H1"]
    records += [record("random", arch=3.0, one_shot=math.nan, seed=s, formation="blur", hparams="1e-3") for s in range(2)]
    rows = markdown_cells(render(paper_table(records), "markdown"))
    random_row = next(row for row in rows if row[0] == "random")
    assert random_row[1] == "1e-3" and random_row[2:5] == ["3.00", "3.00", "3.00"] and "--" in random_row


def test_cache_reuses_finished_trials_and_keeps_them_when_interrupted(tmp_path, monkeypatch):
    spec = TrialSpec(**TINY)
    calls = []
    real = cache_module.run_trials

    def flaky(spec, seeds, *args):
        calls.append(list(seeds))
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is cut off during the second batch
        return real(spec, seeds, *args)

    monkeypatch.setattr(cache_module, "run_trials", flaky)
    cache = TrialCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        cache.run(spec, [0, 1, 2], batch=1)
    assert set(cache.load(spec, cache_module.torch.float32)) == {0}  # the finished batch survived
    records = cache.run(spec, [0, 1, 2], batch=2)
    assert calls == [[0], [1], [1, 2]]  # seed 0 was not run again
    again = cache.run(spec, [2, 0])
    assert calls == [[0], [1], [1, 2]] and [r["seed"] for r in again] == [2, 0]
    assert again[1] == records[0]
    other = TrialSpec(epochs=2, width=4)
    assert cache.path(other, cache_module.torch.float32) != cache.path(spec, cache_module.torch.float32)


def test_the_cache_key_holds_the_profile_settings_the_resolved_ops_and_the_computation_version(tmp_path, monkeypatch):
    cache = TrialCache(tmp_path)
    f32 = cache_module.torch.float32
    spec = TrialSpec(**TINY, profile="spec-v1")
    path = cache.path(spec, f32)
    renamed = Profile.from_mapping({"name": "spec-v1"}, spec.profile)
    assert cache.path(TrialSpec(**TINY, profile=renamed), f32) == path
    changed = Profile.from_mapping({"name": "spec-v1", "psnr_peak": "one"})  # same name, other settings
    assert cache.path(TrialSpec(**TINY, profile=changed), f32) != path
    monkeypatch.setitem(cache_module.OP_SETS._entries, "all", ("learnable_gd", "net", "roll"))
    assert cache.path(spec, f32) != path  # the op set's name alone does not identify the trials
    monkeypatch.undo()
    assert cache.path(spec, f32) == path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record(seed=0).to_json()) + "\n")
    assert list(cache.load(spec, f32)) == [0]
    monkeypatch.setattr(cache_module, "COMPUTATION_VERSION", cache_module.COMPUTATION_VERSION + 1)
    assert cache.load(spec, f32) == {}  # trials of another computation version are not reused


def test_torn_last_cache_line_is_ignored(tmp_path):
    cache = TrialCache(tmp_path)
    spec = TrialSpec(**TINY)
    good = record(seed=4).to_json()
    cache.path(spec, cache_module.torch.float32).parent.mkdir(parents=True, exist_ok=True)
    cache.path(spec, cache_module.torch.float32).write_text(json.dumps(good) + "\n" + '{"seed": 5, "sta')
    assert list(cache.load(spec, cache_module.torch.float32)) == [4]


def test_grid_refuses_bad_axes():
    with pytest.raises(ConfigError, match="unknown method"):
        Grid([("H1", HParams())], ["blur"], ["all"], ["sequential"], ["bogus"], 1, 1, Experiment(width=4))
    with pytest.raises(ConfigError, match="unknown formation"):
        Grid([("H1", HParams())], ["nope"], ["all"], ["sequential"], ["das"], 1, 1, Experiment(width=4))


def test_table_cli_runs_then_reuses_the_cache(tmp_path, monkeypatch, capsys):
    argv = ["table", "--hparams", "H1", "H2", "--formations", "blur", "downsampling", "--ops", "all",
            "--methods", "das", "--trials", "2", "--epochs", "1", "--width", "4", "--cache", str(tmp_path),
            "--device", "cpu", "--quiet"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    rows = markdown_cells(first)
    assert [row[:2] for row in rows[2:4]] == [["das", "H1"], ["das", "H2"]] and "downsampling median" in rows[0]

    def refuse(*args, **kwargs):
        raise AssertionError("a cached trial was run again")

    monkeypatch.setattr(cache_module, "run_trials", refuse)
    assert main(argv + ["--format", "csv"]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out), header=[0, 1], index_col=[0, 1])
    assert list(csv.index) == [("das", "H1"), ("das", "H2")]
    assert main(argv + ["--format", "latex", "--output", str(tmp_path / "t.tex")]) == 0
    assert "\\toprule" in (tmp_path / "t.tex").read_text()
    saved = tmp_path / "saved.jsonl"
    assert main(argv + ["--save-trials", str(saved)]) == 0
    again = capsys.readouterr().out
    assert main(["table", "--from", str(saved)]) == 0  # the saved trials make the same table
    assert capsys.readouterr().out == again


def test_plots_write_pngs(tmp_path):
    path = tmp_path / "trials.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in r.to_json().items() if k != "hparams_name"}) + "\n" for r in hand_made()))
    assert main(["plot", "scatter", "--from", str(path), "--output", str(tmp_path / "s.png")]) == 0
    assert main(["plot", "transfer", "--from", str(path), "--output", str(tmp_path / "t.png")]) == 0
    assert main(["plot", "cells", "--from", str(path), "--output", str(tmp_path / "c.png")]) == 0
    for name in ("s.png", "t.png", "c.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, message", [
    (["trial", "--method", "bogus"], "unknown method 'bogus'"),
    (["table", "--methods", "bogus", "--trials", "1"], "unknown method 'bogus'"),
    (["table", "--hparams", "no-such-preset"], "unknown preset"),
    (["table", "--k", "many"], "--k must be"),
    (["plot", "scatter", "--from", "BAD"], "does not exist"),
])
def test_bad_input_exits_2_with_one_line(argv, message, tmp_path, capsys):
    argv = [a.replace("BAD", str(tmp_path / "missing.jsonl")) for a in argv]
    assert main(argv + ["--cache", str(tmp_path)] if argv[0] == "table" else argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_malformed_jsonl_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text("{not json\n")
    assert main(["table", "--from", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.jsonl:1" in err[0]


def test_comparison_layout_has_formation_and_ops_columns_with_the_correlation():
    records = []
    for method, base in (("das", 10.0), ("zarts_mgs", 20.0)):
        for ops in ("good", "all"):
            for seed, delta in enumerate((0.0, 1.0, 5.0)):
                records.append(record(method, arch=base + delta, one_shot=(delta if method == "das" else -delta),
                                      seed=seed, ops=ops))
    table = comparison_table(records)
    assert list(table.index) == ["das", "zarts_mgs"]
    assert list(table.columns[:4]) == [("blur good", "max"), ("blur good", "mean"), ("blur good", "median"), ("blur good", "r")]
    assert table.loc["zarts_mgs", ("blur all", "median")] == 21.0
    assert table.loc["das", ("blur good", "r")] == pytest.approx(1.0)
    assert table.loc["zarts_mgs", ("blur all", "r")] == pytest.approx(-1.0)
    assert comparison_table(records, target="one-shot").loc["das", ("blur good", "max")] == 5.0


def test_a_method_variant_replaces_the_relaxation_and_names_the_row():
    grid = Grid(hparams=[("H1", HParams())], formations=["blur"], ops=["all"], spaces=["sequential"],
                methods=["das", "das:gumbel"], trials=1, epochs=1, definition=Experiment(width=4))
    spec = grid.spec("das:gumbel", HParams(), "blur", "all", "sequential", grid.profiles[0])
    assert spec.method == "das" and spec.hparams.relaxation == "gumbel"
    assert split_variant("zarts_rs") == ("zarts_rs", None)
    labelled = label({**record().to_json(), "spec": spec.to_dict(), "hparams_name": None})
    assert labelled.method == "das:gumbel" and labelled.hparams_name == "H1"  # H1 with another relaxation
    with pytest.raises(ConfigError, match="relaxation"):
        Grid(hparams=[("H1", HParams())], formations=["blur"], ops=["all"], spaces=["sequential"],
             methods=["das:softer"], trials=1, epochs=1, definition=Experiment(width=4))
