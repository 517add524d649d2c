"""CLEARER's multi-scale space: the resampling of its fusion module, batching, the fixed fast path."""

from dataclasses import replace

import pytest
import torch

from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams
from bohb_das.methods import random_genotypes
from bohb_das.problems import get_problem
from bohb_das.rng import TrialStreams
from bohb_das.search_spaces.multiscale import MODULE_TYPES, Exchange, MultiScaleSpace, resize
from bohb_das.training import TrialData, build, evaluate
from bohb_das.trial import TrialSpec, run_trials

SIZES = {1: [(50,), (25,), (13,)], 2: [(32, 32), (16, 16), (8, 8)]}
TINY = TrialSpec(space="multiscale", epochs=1, width=3,
                 hparams=HParams(alpha_warmup=False, alpha_optimizer="adam", alpha_lr=0.05))


def identity_paths(exchange: Exchange) -> None:
    """Every 1x1 convolution the identity, every 3x3 one a centre tap, every BatchNorm in evaluation
    mode at mean 0, variance 1 - eps: each path is then its resampling alone."""
    with torch.no_grad():
        for name, parameter in exchange.named_parameters():
            if name.endswith("weight"):
                parameter.zero_()
                centre = tuple(k // 2 for k in parameter.shape[3:])
                for c in range(parameter.shape[1]):
                    parameter[(slice(None), c, c, *centre)] = 1.0
        for name, buffer in exchange.named_buffers():
            buffer.copy_(torch.zeros_like(buffer) if name.endswith("mean") else torch.full_like(buffer, 1 - 1e-5))
    exchange.eval()


@pytest.mark.parametrize("dims", [1, 2])
def test_fusion_sums_every_branch_resampled_to_each_resolution(dims):
    torch.manual_seed(0)
    xs = [torch.rand(2, 3, 4, *size, dtype=torch.float64) for size in SIZES[dims]]
    exchange = Exchange(TrialStreams([0, 1], "init"), 2, 4, dims, 3)
    identity_paths(exchange)
    outs = exchange(xs)
    assert [o.shape for o in outs] == [x.shape for x in xs]
    # finer to coarser: stride-2 centre taps keep every other sample (twice for two levels)
    step = (slice(None),) * 3 + (slice(None, None, 2),) * dims
    step2 = (slice(None),) * 3 + (slice(None, None, 4),) * dims
    # coarser to finer: nearest upsampling repeats each sample (the 13 samples of 1/4 cover 50 unevenly)
    expected = [
        xs[0] + resize(xs[1], SIZES[dims][0]) + resize(xs[2], SIZES[dims][0]),
        xs[1] + xs[0][step] + resize(xs[2], SIZES[dims][1]),
        xs[2] + xs[0][step2] + xs[1][step],
    ]
    for out, value in zip(outs, expected):
        torch.testing.assert_close(out, torch.relu(value))
    if dims == 2:  # nearest upsampling by two is a Kronecker product with a 2x2 block of ones
        block = torch.kron(xs[1][0, 0, 0], torch.ones(2, 2, dtype=torch.float64))
        torch.testing.assert_close(resize(xs[1], (32, 32))[0, 0, 0], block)


def test_the_head_fuses_into_the_full_resolution_and_the_space_keeps_the_signal_shape():
    data = TrialData(get_problem("deblur2d"), [0, 1], "data", "cpu", torch.float64)
    model = build(MultiScaleSpace, (), data, 3, "init")
    x, ctx = data.batch()
    weights = torch.softmax(torch.randn(2, len(MultiScaleSpace.edges), 2, dtype=torch.float64), -1)
    assert model(ctx.u0, weights, ctx).shape == x.shape


def test_a_fixed_architecture_computes_only_its_modules_and_the_same_numbers():
    data = TrialData(get_problem("blur"), [0, 1], "data", "cpu", torch.float64)
    model = build(MultiScaleSpace, (), data, 3, "init")
    genotypes = random_genotypes(MultiScaleSpace, (), [3, 4])
    weights = model.fix(genotypes)
    assert model.used is not None and not all(all(edge) for edge in model.used)
    fast = evaluate(model, weights, data.derived("eval"))
    model.used = None  # every module type computed, weighted one-hot
    torch.testing.assert_close(evaluate(model, weights, data.derived("eval")), fast, rtol=0, atol=1e-12)


def test_the_operation_set_does_not_apply_and_operation_baselines_are_refused():
    with pytest.raises(ConfigError, match="the multiscale space chooses among parallel, fusion, not operations"):
        replace(TINY, ops="good")
    with pytest.raises(ConfigError, match="operation 'learnable_gd' is not among"):
        run_trials(replace(TINY, method="gd_only"), [0])


def test_clearer_runs_from_its_preset_and_profile():
    from bohb_das.hparams import load_preset
    from bohb_das.profiles import load_profile
    from bohb_das.relaxations import EntropySettings

    hp = load_preset("clearer")
    assert hp.of(EntropySettings).entropy_weight == 0.01 and hp.alpha_optimizer == "adam" and hp.alpha_lr == 3e-4
    assert load_profile("clearer").alpha_bn == "running"
    spec = replace(TINY, formation="denoise", hparams=hp, profile="clearer")  # images: the head and fusion tests
    (result,) = run_trials(spec, [0])
    assert result.status == "ok" and set(result.genotype["ops"]) <= set(MODULE_TYPES)
