import math
from dataclasses import replace

import pytest
import torch

from bohb_das.errors import ConfigError
from bohb_das.problems import get_problem
from bohb_das.hparams import HParams
from bohb_das.methods import METHODS, candidate_seed, matched_k, random_genotypes, retrain, transplant, uniform_genotype
from bohb_das.operations import OP_SETS
from bohb_das.operations.mixed import MixedOp
from bohb_das.search import das_search
from bohb_das.search_spaces.cell import CellSpace
from bohb_das.search_spaces.sequential import SequentialSpace
from bohb_das.training import Failures, TrialData, build, evaluate
from bohb_das.trial import TrialSpec, run_trials

TINY = dict(epochs=1, width=4, hparams=HParams(alpha_warmup=False, alpha_optimizer="adam", alpha_lr=0.05))


@pytest.mark.parametrize("method", [m for m in METHODS if m != "das"])
def test_each_method_runs_on_a_tiny_budget(method):
    relaxation = METHODS[method].relaxation or "softmax"  # the sparse supernet's identity
    spec = TrialSpec(method=method, ops="all", k=2 if method == "random_search" else None,
                     **{**TINY, "hparams": replace(TINY["hparams"], relaxation=relaxation)})
    results = run_trials(spec, [0, 1])
    for r in results:
        assert r.status == "ok", r.reason
        assert math.isfinite(r.arch_psnr)
        assert math.isfinite(r.one_shot_psnr) == METHODS[method].one_shot  # NaN: no supernet
        assert r.genotype["space"] == "sequential" and len(r.genotype["ops"]) == 10
    if method == "gd_only":
        assert all(set(r.genotype["ops"]) == {"learnable_gd"} for r in results)
    if method == "nets_only":
        assert all(set(r.genotype["ops"]) == {"net"} for r in results)
    if method == "das_single":
        assert all(len(r.alphas) == 10 for r in results)


def test_random_trials_do_not_depend_on_their_batch():
    spec = TrialSpec(method="random", space="cell", **TINY)
    together = run_trials(spec, [3, 4], dtype=torch.float64)
    (alone,) = run_trials(spec, [4], dtype=torch.float64)
    assert together[1].genotype == alone.genotype
    assert together[1].arch_psnr == pytest.approx(alone.arch_psnr, abs=1e-8)
    assert together[0].genotype != together[1].genotype


def test_random_genotypes_are_uniform_over_the_candidates_with_zero_in_the_cell_space():
    genotypes = random_genotypes(CellSpace, OP_SETS["good"], range(200))
    picks = [op for g in genotypes for op in g.ops]
    shares = {op: picks.count(op) / len(picks) for op in ("learnable_gd", "net", None)}
    assert all(abs(share - 1 / 3) < 0.02 for share in shares.values()), shares
    assert random_genotypes(SequentialSpace, OP_SETS["all"], [7]) == random_genotypes(SequentialSpace, OP_SETS["all"], [7])


def test_random_search_keeps_the_best_of_k_random_architectures():
    spec = TrialSpec(method="random_search", k=3, **TINY)
    (best,) = run_trials(spec, [5], dtype=torch.float64)
    singles = run_trials(TrialSpec(method="random", **TINY), [candidate_seed(5, i) for i in range(3)], dtype=torch.float64)
    top = max(singles, key=lambda r: r.arch_psnr)
    assert best.arch_psnr == pytest.approx(top.arch_psnr, abs=1e-8)
    assert best.genotype == top.genotype


def test_transplanted_supernet_computes_each_pretrained_network():
    data = TrialData(get_problem("blur"), [0, 1], "data", "cpu", torch.float64)
    gd, net, target = (build(SequentialSpace, OP_SETS["all"], data, 4, s) for s in ("a", "b", "c"))
    with torch.no_grad():
        for source in (gd, net):
            for mixed in source.mixed:
                mixed.running_mean.normal_()
                mixed.running_var.uniform_(0.5, 2)
        gd.skip.fill_(0.7)
        net.skip.fill_(0.7)
    transplant(target, {"learnable_gd": gd, "net": net})
    evaluation = data.derived("eval")
    for op, source in (("learnable_gd", gd), ("net", net)):
        weights = target.one_hot([uniform_genotype(SequentialSpace, op)] * 2)
        assert torch.allclose(evaluate(target, weights, evaluation), evaluate(source, weights, evaluation), atol=1e-10)


def test_alpha_only_search_leaves_the_weights_alone():
    data = TrialData(get_problem("blur"), [0, 1], "data", "cpu", torch.float64)
    model = build(SequentialSpace, OP_SETS["all"], data, 4, "init").requires_grad_(False)
    before = [p.clone() for p in model.parameters()]
    outcome = das_search(SequentialSpace, OP_SETS["all"], data, TINY["hparams"], 1, 4, Failures.none(2),
                         model=model, train_weights=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert float(outcome.alphas.abs().max()) > 0.01  # alpha did move


def test_k_belongs_to_random_search_only_and_defaults_to_the_papers_5():
    assert TrialSpec(method="random_search").k == 5
    with pytest.raises(ConfigError, match="random_search only"):
        TrialSpec(method="das", k=3)
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        TrialSpec(method="random_search", k=0)
    spec = TrialSpec(method="random_search", k=2, hparams=HParams(alpha_lr=0.5))
    assert TrialSpec.from_dict(spec.to_dict()) == spec


def test_matched_k_follows_the_papers_time_ratio():
    assert matched_k(159, 35) == 5  # paper 5.2: 2:39 per DAS run, 0:35 per random architecture
    assert matched_k(10, 100) == 1
    assert matched_k(math.nan, 1) == 5


@pytest.mark.parametrize("space", [SequentialSpace, CellSpace])
def test_retraining_computes_the_chosen_operations_with_the_supernets_numbers(space, monkeypatch):
    """A fixed architecture (each edge its trial's chosen op alone) trains to the numbers of the
    supernet run at one-hot weights (float64; only the order of sums over channels differs), with
    trials that chose differently in one batch."""
    seeds = [5, 6, 7]
    genotypes = random_genotypes(space, OP_SETS["all"], seeds)
    spec = TrialSpec(space=space.name, **TINY)
    outcomes, widths = [], []
    statistics = MixedOp._batch_statistics
    monkeypatch.setattr(MixedOp, "_batch_statistics", lambda op, u, w1, ch: widths.append(w1.shape[-1]) or statistics(op, u, w1, ch))
    for fixed in (True, False):
        if not fixed:
            assert set(widths) == {TINY["width"]}  # one network's channels per trial, not the two
            monkeypatch.setattr(space, "fix", space.one_hot)
        data = TrialData(get_problem("blur"), seeds, "retrain-data", "cpu", torch.float64)
        outcomes.append(retrain(space, OP_SETS["all"], genotypes, data, spec, [spec.hparams] * 3))
    (fixed, fixed_reasons), (supernet, reasons) = outcomes
    assert fixed_reasons == reasons == [None] * 3 and len({g.ops for g in genotypes}) == 3
    assert fixed == pytest.approx(supernet, rel=1e-12, abs=0) and max(widths) == 2 * TINY["width"]
