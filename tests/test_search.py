import pytest
import torch
from torch import nn

from bohb_das.problems import get_problem
from bohb_das.hparams import HParams
from bohb_das.operations import OP_SETS
from bohb_das.rng import TrialStreams
from bohb_das.profiles import LATER
from bohb_das.search import ArchitectureStep, das_search
from bohb_das.search_spaces.sequential import SequentialSpace
from bohb_das.training import Failures, TrialData, build

SEEDS = (3, 4)


def setup(hp: HParams):
    data = TrialData(get_problem("blur"), SEEDS, "data", "cpu", torch.float64)
    model = build(SequentialSpace, OP_SETS["all"], data, 4, "init")
    alpha = nn.Parameter(torch.zeros(2, 10, 4, dtype=torch.float64))
    return model, alpha, ArchitectureStep(model, alpha, data, hp, Failures.none(2))


@pytest.mark.parametrize("optimizer", ["adam", "gd"])
def test_alpha_frozen_during_warmup_then_moves(optimizer):
    _, alpha, step = setup(HParams(alpha_warmup=True, alpha_optimizer=optimizer, alpha_lr=0.05))
    for s in range(20):  # the first 20% of 100 steps
        step(s, 100)
    assert torch.equal(alpha.detach(), torch.zeros_like(alpha))
    step(20, 100)
    assert float(alpha.detach().abs().max()) > 0


def test_linear_scheduler_decays_alpha_lr_to_zero():
    _, _, step = setup(HParams(alpha_warmup=False, alpha_scheduler="linear", alpha_lr=0.01))
    step(75, 100)
    assert step.optimizer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0025)
    _, _, constant = setup(HParams(alpha_warmup=False, alpha_scheduler="none", alpha_lr=0.01))
    constant(75, 100)
    assert constant.optimizer.optimizers[0].param_groups[0]["lr"] == 0.01


def test_search_moves_alpha_and_reports_one_shot_psnr():
    data = TrialData(get_problem("blur"), SEEDS, "data", "cpu", torch.float64)
    hp = HParams(alpha_warmup=False, alpha_optimizer="adam", alpha_lr=0.05)
    outcome = das_search(SequentialSpace, OP_SETS["all"], data, hp, 1, 4, Failures.none(2))
    init = LATER["alpha_init_std"] * TrialStreams(SEEDS, "alpha-init").randn(10, 4, dtype=torch.float64)
    assert outcome.alphas.shape == (2, 10, 4)
    assert float((outcome.alphas - init).abs().max()) > 0.1  # 19 Adam steps of 0.05
    assert outcome.one_shot_psnr.shape == (2,) and bool(torch.isfinite(outcome.one_shot_psnr).all())
    assert [g.space for g in outcome.genotypes] == ["sequential"] * 2
