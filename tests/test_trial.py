import json
import math
from dataclasses import replace

import pytest
import torch

from bohb_das.errors import ConfigError
from bohb_das.problems import get_problem
from bohb_das.hparams import TABLE7, HParams
from bohb_das.operations import OP_SETS
from bohb_das.search_spaces import Genotype
from bohb_das.search_spaces.sequential import SequentialSpace
from bohb_das.training import Failures, TrialData, build, train
from bohb_das.trial import TrialSpec, retrain, run_trials

FAST = dict(epochs=1, width=4, hparams=HParams(alpha_warmup=False, alpha_optimizer="adam", alpha_lr=0.05))


@pytest.mark.parametrize("space", ["sequential", "cell"])
def test_batched_trials_equal_trials_run_one_by_one(space):
    spec = TrialSpec(formation="downsampling", ops="all", space=space, **FAST)
    seeds = [5, 6, 7]
    batched = run_trials(spec, seeds, dtype=torch.float64)
    for seed, together in zip(seeds, batched):
        (alone,) = run_trials(spec, [seed], dtype=torch.float64)
        assert together.status == alone.status == "ok"
        assert together.genotype == alone.genotype
        assert together.one_shot_psnr == pytest.approx(alone.one_shot_psnr, abs=1e-8)
        assert together.arch_psnr == pytest.approx(alone.arch_psnr, abs=1e-8)
        assert torch.allclose(torch.tensor(together.alphas), torch.tensor(alone.alphas), atol=1e-10)
    assert len({json.dumps(r.genotype) for r in batched} | {r.one_shot_psnr for r in batched}) > 2


def test_a_diverging_trial_fails_alone_and_the_others_go_on():
    seeds = [0, 1]
    hp = HParams()
    runs = {}
    for name, trial_seeds in (("pair", seeds), ("alone", seeds[:1])):
        data = TrialData(get_problem("blur"), trial_seeds, "data", "cpu", torch.float64)
        model = build(SequentialSpace, OP_SETS["good"], data, 4, "init")
        if name == "pair":
            with torch.no_grad():
                model.mixed[0].w1[1] = math.nan  # poison trial 1 only
        weights = torch.full((len(trial_seeds), 10, 2), 0.5, dtype=torch.float64)
        failures = Failures.none(len(trial_seeds))
        train(model, lambda: weights, data, hp, 1, failures, "test")
        runs[name] = (model, failures)
    pair, failures = runs["pair"]
    alone, _ = runs["alone"]
    assert failures.reasons[0] is None and "non-finite loss" in failures.reasons[1]
    for p_pair, p_alone in zip(pair.parameters(), alone.parameters()):
        assert torch.allclose(p_pair[0], p_alone[0], atol=1e-12)


def test_diverging_trials_are_reported_failed_with_a_reason():
    spec = TrialSpec(epochs=1, width=4, hparams=HParams(weight_lr=1e30))
    results = run_trials(spec, [0, 1])
    for r in results:
        assert r.status == "failed" and "non-finite loss" in r.reason
        assert math.isnan(r.one_shot_psnr) and math.isnan(r.arch_psnr) and r.genotype is None


@pytest.mark.parametrize("formation, epochs", [("blur", 10), ("downsampling", 3)])
def test_gd_only_and_nets_only_beat_the_back_projection(formation, epochs):
    genotypes = [Genotype("sequential", ("learnable_gd",) * 10), Genotype("sequential", ("net",) * 10)]
    data = TrialData(get_problem(formation), [0, 1], "data", "cpu", torch.float32)
    psnrs, reasons = retrain(SequentialSpace, OP_SETS["good"], genotypes, data, TrialSpec(epochs=epochs), [HParams()] * 2)
    floor = get_problem(formation).backprojection_psnr()
    assert reasons == [None, None]
    assert min(psnrs) > floor + 1, (psnrs, floor)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(epochs=0), "epochs must be a positive integer"),
        (dict(width=2.5), "width must be a positive integer"),
        (dict(method="bayes"), "unknown method 'bayes'"),
        (dict(space="dag"), "unknown search space"),
        (dict(ops="some"), "unknown operation set"),
        (dict(formation="x"), "unknown formation"),
    ],
)
def test_invalid_specs_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrialSpec(**kwargs)


def test_seeds_must_be_given_and_distinct():
    with pytest.raises(ConfigError):
        run_trials(TrialSpec(), [])
    with pytest.raises(ConfigError, match="differ"):
        run_trials(TrialSpec(), [1, 1])


def test_result_records_everything_a_table_needs():
    (result,) = run_trials(TrialSpec(**FAST), [0])
    record = result.to_dict()
    for key in ("one_shot_psnr", "arch_psnr", "genotype", "seconds", "status", "seed", "alphas", "device"):
        assert key in record
    assert record["spec"]["hparams"]["alpha_lr"] == 0.05
    assert math.isfinite(record["backprojection_psnr"]) and record["seconds"] > 0
    json.dumps(record)


@pytest.mark.parametrize("space, method, relaxation", [
    ("sequential", "darts2", "softmax"), ("sequential", "zarts_rs", "gumbel"), ("sequential", "das", "sparsestmax"),
    ("multiscale", "das", "softmax"),  # CLEARER's space: per-trial grouped convolutions and BatchNorms
    ("trilevel", "das_one_phase", "sparsestmax"),  # three choices, each its own relaxation; fine-tuned supernet
    ("cell", "das_one_phase", "softmax"),
    ("sequential", "sparse_supernet", "identity"),
])
def test_methods_beyond_the_paper_are_batched_like_das(space, method, relaxation):
    """The noise op, Gumbel samples, zero-order directions and candidate copies all come from the
    trial's own streams, so a trial's result does not depend on its batch here either."""
    hp = HParams.from_mapping(dict(alpha_warmup=False, alpha_optimizer="adam", alpha_lr=0.05, relaxation=relaxation,
                                   zo_samples=2))
    spec = TrialSpec(ops="all", space=space, method=method, epochs=1, width=3, hparams=hp)
    batched = run_trials(spec, [5, 6], dtype=torch.float64)
    (alone,) = run_trials(spec, [6], dtype=torch.float64)
    assert batched[1].status == alone.status == "ok" and batched[1].genotype == alone.genotype
    assert batched[1].one_shot_psnr == pytest.approx(alone.one_shot_psnr, abs=1e-8)
    assert batched[1].arch_psnr == pytest.approx(alone.arch_psnr, abs=1e-8)
    assert torch.allclose(torch.tensor(batched[1].alphas), torch.tensor(alone.alphas), atol=1e-10)


@pytest.mark.parametrize("relaxation", ["softmax", "sparsemax", "sparsestmax", "sigmoid", "gumbel"])
@pytest.mark.parametrize("space", ["sequential", "cell"])
def test_trial_cli_runs_every_relaxation_on_both_spaces(relaxation, space, capsys):
    from bohb_das.cli import main

    code = main(["trial", "--relaxation", relaxation, "--space", space, "--trials", "2", "--epochs", "1",
                 "--width", "3", "--alpha-optimizer", "adam", "--alpha-lr", "0.05", "--no-alpha-warmup",
                 "--json", "--quiet", "--device", "cpu"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and len(records) == 2
    for r in records:
        assert r["status"] == "ok" and math.isfinite(r["arch_psnr"]) and math.isfinite(r["one_shot_psnr"])
        assert r["spec"]["hparams"].get("relaxation", "softmax") == relaxation
        assert r["genotype"]["space"] == space


def test_paper_trials_keep_their_records_and_cache_keys():
    """Settings beyond the paper are left out of a record where they are at their defaults."""
    record = TrialSpec(**FAST).to_dict()
    assert list(record["hparams"]) == list(TABLE7)
    assert TrialSpec.from_dict(record) == TrialSpec(**FAST)
    gumbel = TrialSpec(**{**FAST, "hparams": HParams(relaxation="gumbel")})
    assert gumbel.to_dict()["hparams"]["relaxation"] == "gumbel" and TrialSpec.from_dict(gumbel.to_dict()) == gumbel


def test_no_retrain_stops_after_the_search_with_the_same_search_result():
    spec = TrialSpec(**FAST)
    (full,) = run_trials(spec, [3], dtype=torch.float64)
    (short,) = run_trials(replace(spec, retrain=False), [3], dtype=torch.float64)
    assert short.status == "ok" and math.isnan(short.arch_psnr)
    assert short.one_shot_psnr == full.one_shot_psnr and short.genotype == full.genotype
    assert "retrain" not in full.to_dict()["spec"]  # retrained trials keep their records and cache keys
    assert short.to_dict()["spec"]["retrain"] is False
    assert TrialSpec.from_dict(short.to_dict()["spec"]) == replace(spec, retrain=False)
    with pytest.raises(ConfigError, match="no-retrain needs a searching method"):
        TrialSpec(method="random", retrain=False)
