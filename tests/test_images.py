"""The 2-D image problems: exact operators on natural-image patches, networks equal to Conv2d /
BatchNorm2d modules, trials that do not depend on their batch, and retraining of the chosen
operations, all in float64."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bohb_das.methods import METHODS, random_genotypes, retrain
from bohb_das.operations import OP_SETS, Context
from bohb_das.operations.mixed import MixedOp
from bohb_das.problems import get_problem
from bohb_das.rng import TrialStreams
from bohb_das.search_spaces.sequential import SequentialSpace
from bohb_das.training import TrialData
from bohb_das.trial import TrialSpec

IMAGE_PROBLEMS = ("deblur2d", "superres2d", "superres2d_x4")
TINY = dict(epochs=1, width=2)


@pytest.mark.parametrize("name", IMAGE_PROBLEMS)
def test_operator_is_gaussian_blur_then_subsampling_with_an_exact_adjoint(name):
    problem = get_problem(name).to("cpu", torch.float64)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 32, 32, dtype=torch.float64, generator=g)
    factor = 32 // problem.measurement_shape[0]
    t = torch.arange(7, dtype=torch.float64) - 3
    kernel = torch.exp(-0.5 * (t[:, None] ** 2 + t[None, :] ** 2) / 1.5**2)
    expected = F.conv2d(x[:, None], (kernel / kernel.sum())[None, None], padding=3)[:, 0, ::factor, ::factor]
    assert torch.allclose(problem.forward(x), expected, atol=1e-12)
    v = torch.randn(3, *problem.measurement_shape, dtype=torch.float64, generator=g)
    assert float((problem.forward(x) * v).sum()) == pytest.approx(float((x * problem.adjoint(v)).sum()), rel=1e-12)
    assert torch.allclose(problem.data_gradient(x, problem.adjoint(v)), problem.adjoint(problem.forward(x) - v), atol=1e-12)


def test_patches_are_grayscale_photographs_with_validation_images_apart():
    problem = get_problem("deblur2d")
    train, validation = problem.train, problem.validation
    assert train.shape[1:] == validation.shape[1:] == (32, 32) and len(train) > 4000 and len(validation) > 2000
    assert 0 <= float(train.min()) and float(train.max()) <= 1 and float(train.std()) > 0.1
    assert float(torch.cdist(validation[::10].flatten(1), train.flatten(1)).min()) > 1e-3  # no shared patch
    (x1, y1), (x2, y2) = problem.validation_set(), problem.validation_set()
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and x1.shape == (problem.validation_size, 32, 32)
    assert float(get_problem("superres2d").backprojection_psnr()) < float(problem.backprojection_psnr())


def test_image_network_equals_conv2d_batchnorm2d_modules_in_train_and_eval_mode():
    trials, width = 2, 4
    op = MixedOp(["net"], trials, width, TrialStreams(range(trials), "init"), dims=2).double()
    problem = get_problem("deblur2d").to("cpu", torch.float64)
    u = torch.randn(trials, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ctx = Context(u, problem, TrialStreams(range(trials), "noise"))
    ones = torch.ones(trials, 1, dtype=torch.float64)
    train_out = op(u, ones, ctx)
    op.eval()
    eval_out = op(u, ones, ctx)
    for t in range(trials):
        conv1 = nn.Conv2d(1, width, 3, padding=1, bias=False).double()
        bn = nn.BatchNorm2d(width).double()
        conv2 = nn.Conv2d(width, 1, 3, padding=1).double()
        with torch.no_grad():
            conv1.weight.copy_(op.w1[t].T.reshape(width, 1, 3, 3))
            bn.weight.copy_(op.gamma[t])
            bn.bias.copy_(op.beta[t])
            conv2.weight.copy_(op.w2[t].reshape(1, width, 3, 3))
            conv2.bias.copy_(op.b2[t])
        net = nn.Sequential(conv1, bn, nn.ReLU(), conv2)
        assert torch.allclose(train_out[t], net(u[t][:, None])[:, 0], atol=1e-10)
        net.eval()  # after one train-mode call, as the op: the same running statistics
        assert torch.allclose(eval_out[t], net(u[t][:, None])[:, 0], atol=1e-10)


def small(name: str):
    """The problem with a 64-patch validation set: the tests below compare numbers, not quality, and
    the full set's float64 evaluation would cost most of their time."""
    return replace(get_problem(name), validation_size=64)


@pytest.mark.parametrize("space", ["sequential", pytest.param("cell", marks=pytest.mark.slow)])
def test_image_trials_do_not_depend_on_their_batch(space):
    spec = TrialSpec(formation="superres2d", space=space, ops="all", **TINY)

    def search(seeds: list[int]):
        data = TrialData(small("superres2d"), seeds, "search-data", "cpu", torch.float64)
        return METHODS["das"].run(spec, data, [spec.hparams] * len(seeds), None)

    together, alone = search([3, 4]), search([4])
    assert together.reasons == [None, None] and alone.reasons == [None]
    assert together.genotypes[1] == alone.genotypes[0] and together.genotypes[0] != together.genotypes[1]
    assert together.one_shot_psnr[1] == pytest.approx(alone.one_shot_psnr[0], rel=1e-10, abs=0)
    assert together.arch_psnr[1] == pytest.approx(alone.arch_psnr[0], rel=1e-10, abs=0)


def test_image_retraining_of_the_chosen_operations_equals_the_one_hot_supernet(monkeypatch):
    """The sequential space only: which operations an edge computes does not depend on the space (the
    1-D test covers both), and the cell space on images is covered above."""
    space = SequentialSpace
    seeds = [5, 6, 7]
    genotypes = random_genotypes(space, OP_SETS["all"], seeds)
    spec = TrialSpec(space=space.name, formation="deblur2d", **TINY)
    outcomes = []
    for fixed in (True, False):
        if not fixed:
            monkeypatch.setattr(space, "fix", space.one_hot)
        data = TrialData(small("deblur2d"), seeds, "retrain-data", "cpu", torch.float64)
        outcomes.append(retrain(space, OP_SETS["all"], genotypes, data, spec, [spec.hparams] * 3))
    (fixed, fixed_reasons), (supernet, reasons) = outcomes
    assert fixed_reasons == reasons == [None] * 3
    assert fixed == pytest.approx(supernet, rel=1e-12, abs=0)
