"""The profile's later readings (the harmful operations' strength, what decides whether a search
fails): each does what it says, a trial it cannot enter is unchanged, and records of trials made
before they existed keep their cache keys."""

import copy
import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from bohb_das.cache import spec_key
from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams, load_preset
from bohb_das.methods import METHODS
from bohb_das.operations import OP_SETS, OPERATIONS, Context
from bohb_das.operations.mixed import conv_taps
from bohb_das.optim import clip_per_trial
from bohb_das.problems import get_problem
from bohb_das.profiles import DEFAULT_PROFILE, LATER, TAU_PARAMS, Profile, load_profile
from bohb_das.rng import TrialStreams
from bohb_das.search import ArchitectureStep, initial_alpha
from bohb_das.search_spaces.sequential import SequentialSpace
from bohb_das.training import Failures, TrialData, build, evaluate
from bohb_das.trial import TrialSpec, run_trials

PAPER = load_profile("paper")
#: A value other than the default for every later setting.
CHANGED = dict(noise_op_std=1.0, noise_op_form="replace", roll_shift=5, alpha_loss_scale=64.0, alpha_init_std=1.0,
               alpha_bn="running", one_shot_bn="batch", bn_momentum=0.5, tau_param="identity", tau_init=0.3,
               tau_max=1.0, grad_clip=0.01)


def _data(profile: Profile, seeds=(0, 1)) -> TrialData:
    return TrialData(get_problem("blur", profile), list(seeds), "data", "cpu", torch.float64)


def test_every_later_setting_has_a_changed_value_here():
    assert set(CHANGED) == set(LATER)
    assert all(CHANGED[k] != v for k, v in LATER.items())


def test_later_settings_at_their_defaults_stay_out_of_records_and_cache_keys():
    assert not set(LATER) & set(PAPER.to_dict())
    changed = replace(PAPER, roll_shift=3, name="mine")
    assert changed.to_dict()["roll_shift"] == 3 and Profile.from_mapping(changed.to_dict()) == changed
    spec = TrialSpec(formation="blur", ops="all", method="das", epochs=50, width=32, hparams=load_preset("H1"), profile="paper")
    assert spec_key(spec, torch.float32) == "4e140a2ec88d4d1053cb2e75"  # as computed before these settings existed
    assert spec_key(replace(spec, profile="spec-v1"), torch.float32) == "cd3805ab0e482ed61519bf12"
    # the default keeps the key it was screened under, in results/trials/ (the name, not the file, enters it)
    assert spec_key(replace(spec, profile=DEFAULT_PROFILE), torch.float32) == "f52ef97f1a51051636f6a93f"


@pytest.mark.parametrize("values, message", [
    ({"noise_op_form": "instead"}, "noise_op_form must be one of step, replace"),
    ({"roll_shift": 0}, "roll_shift must be a positive integer"),
    ({"alpha_loss_scale": 0}, "alpha_loss_scale must be a finite number > 0"),
    ({"bn_momentum": 1.5}, "bn_momentum must be a finite number in (0, 1]"),
    ({"alpha_bn": "eval"}, "alpha_bn must be one of batch, running"),
    ({"tau_param": "sigmoid", "tau_init": 2.0}, "tau_init must be below tau_max (2)"),
    ({"grad_clip": -1}, "grad_clip must be a finite number >= 0"),
])
def test_invalid_later_settings_are_refused(values, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
        Profile.from_mapping(values)


@pytest.mark.parametrize("form", ["step", "replace"])
@pytest.mark.parametrize("std", [0.1, 1.0])
def test_the_noise_operation_adds_its_std_after_or_instead_of_the_step(std, form):
    data = _data(Profile(noise_op_std=std, noise_op_form=form))
    _, ctx = data.batch()
    u = ctx.u0
    gradient, tau = ctx.data_gradient(u), torch.full((2, 1, 1), 0.5, dtype=torch.float64)
    noise = OPERATIONS["noise"].direct(u, gradient, tau, ctx) - (u - tau * gradient if form == "step" else u)
    assert float(noise.std()) == pytest.approx(std, rel=0.03)
    assert abs(float(noise.mean())) < 0.03 * std


@pytest.mark.parametrize("roll, dims", [("length", (-1,)), ("batch_length", (-2, -1))])
@pytest.mark.parametrize("shift", [1, 5])
def test_roll_shifts_by_the_profile_s_shift(roll, dims, shift):
    u = torch.arange(2 * 6 * 10, dtype=torch.float64).view(2, 6, 10)
    profile = Profile(roll=roll, roll_shift=shift)
    ctx = Context(u, get_problem("blur", profile), TrialStreams([0, 1], "s"), profile.roll_dims())
    assert torch.equal(OPERATIONS["roll"].direct(u, None, None, ctx), torch.roll(u, (shift,) * len(dims), dims=dims))


def test_the_alpha_objective_scale_is_a_continuum_that_contains_the_sum():
    """The summed objective is the mean times batch size x signal length (128 x 50): a search under the
    mean scaled by 6400 is the search under the sum, to float64 rounding; another scale moves alpha."""
    hp = HParams(alpha_warmup=False)
    base = dict(formation="blur", ops="all", epochs=1, width=4, hparams=hp, retrain=False)
    scaled = lambda scale: replace(PAPER, name="scaled", alpha_loss="mean", alpha_loss_scale=scale)  # noqa: E731
    (summed,) = run_trials(TrialSpec(**base, profile=PAPER), [3], dtype=torch.float64)
    (same,) = run_trials(TrialSpec(**base, profile=scaled(6400.0)), [3], dtype=torch.float64)
    (less,) = run_trials(TrialSpec(**base, profile=scaled(64.0)), [3], dtype=torch.float64)
    assert torch.allclose(torch.tensor(same.alphas), torch.tensor(summed.alphas), rtol=1e-8, atol=1e-12)
    assert same.one_shot_psnr == pytest.approx(summed.one_shot_psnr, abs=1e-8)
    moved = lambda r: float(torch.tensor(r.alphas).abs().max())  # noqa: E731
    assert moved(less) < moved(summed) / 5


def test_alpha_starts_at_the_profile_s_scale_from_the_same_draws():
    seeds = list(range(8))
    small, large = (initial_alpha(_data(Profile(alpha_init_std=std), seeds), (10, 4)) for std in (1e-3, 1.0))
    assert float(large.std()) == pytest.approx(1.0, rel=0.15)
    assert torch.allclose(small, large * 1e-3, rtol=1e-12)


def _arch_step(mode: str) -> tuple[ArchitectureStep, nn.Module]:
    data = _data(replace(PAPER, alpha_bn=mode))
    model = build(SequentialSpace, OP_SETS["good"], data, 4, "init")
    alpha = nn.Parameter(initial_alpha(data, (10, 2)))
    return ArchitectureStep(model, alpha, data.derived("alpha"), HParams(alpha_warmup=False), Failures.none(2)), model


@pytest.mark.parametrize("mode", ["batch", "running"])
def test_the_alpha_step_normalizes_as_alpha_bn_says(mode):
    step, model = _arch_step(mode)
    probe = copy.deepcopy(model)  # the same network, for the expected gradient
    probe.train(mode == "batch")
    alpha = step.alpha.detach().clone().requires_grad_()
    x, ctx = step.data.derived("alpha").batch()  # the batch the step will draw
    loss = step.objective(probe, alpha, x, ctx).sum()
    (expected,) = torch.autograd.grad(loss, [alpha])
    before = [b.clone() for b in model.buffers()]
    step(0, 10)
    hp = HParams()
    lr = hp.alpha_lr  # linear schedule at step 0: the full rate
    assert torch.allclose(step.alpha.detach(), alpha.detach() - lr * (expected + hp.alpha_decay * alpha.detach()), rtol=1e-10)
    assert model.training
    moved = any(not torch.equal(a, b) for a, b in zip(before, model.buffers()))
    assert moved == (mode == "batch")  # running statistics follow the alpha step only in train mode


def test_the_one_shot_evaluation_with_batch_statistics_ignores_the_running_ones():
    data = _data(PAPER)
    model = build(SequentialSpace, OP_SETS["good"], data, 4, "init")
    weights = torch.full((2, 10, 2), 0.5, dtype=torch.float64)
    x, ctx = data.batch()
    model(ctx.u0, weights, ctx)  # running statistics away from their start
    kept = [b.clone() for b in model.buffers()]
    running, batch = evaluate(model, weights, data, "running"), evaluate(model, weights, data, "batch")
    assert all(torch.equal(a, b) for a, b in zip(kept, model.buffers())) and model.training
    assert not torch.allclose(running, batch)
    with torch.no_grad():
        for mixed in model.mixed:
            mixed.running_mean.add_(1.0)
            mixed.running_var.mul_(3.0)
    assert torch.equal(evaluate(model, weights, data, "batch"), batch)
    assert not torch.allclose(evaluate(model, weights, data, "running"), running)


@pytest.mark.parametrize("momentum", [0.1, 0.5])
def test_running_statistics_follow_the_momentum(momentum):
    data = _data(replace(PAPER, bn_momentum=momentum))
    model = build(SequentialSpace, OP_SETS["good"], data, 4, "init")
    x, ctx = data.batch()
    model(ctx.u0, torch.full((2, 10, 2), 0.5, dtype=torch.float64), ctx)
    first = model.mixed[0]
    mean = (conv_taps(ctx.u0) @ first.w1).mean(1)  # the first layer's pre-BatchNorm batch mean
    assert torch.allclose(first.running_mean, momentum * mean, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("param", TAU_PARAMS)
def test_the_step_size_starts_at_tau_init_within_its_bounds(param):
    data = _data(replace(PAPER, tau_param=param, tau_init=0.3, tau_max=1.0))
    mixed = build(SequentialSpace, OP_SETS["all"], data, 4, "init").mixed[0]
    assert torch.allclose(mixed.taus(), torch.full_like(mixed.taus(), 0.3), rtol=1e-12)
    with torch.no_grad():
        mixed.rho.fill_(-50.0)
    low = float(mixed.taus().detach().min())
    with torch.no_grad():
        mixed.rho.fill_(50.0)
    high = float(mixed.taus().detach().max())
    assert {"softplus": low > 0 and high == pytest.approx(50.0), "sigmoid": 0 < low and high <= 1.0,
            "identity": low == -50.0 and high == 50.0}[param]


def test_gradients_are_clipped_per_trial_as_torch_clips_one_network():
    g = torch.Generator().manual_seed(0)
    grads = [10 * torch.randn(3, 4, 5, generator=g, dtype=torch.float64), 10 * torch.randn(3, 2, generator=g, dtype=torch.float64)]
    for grad in grads:
        grad[1] *= 1e-3  # trial 1 is inside the bound: unchanged
    expected = []
    for t in range(3):
        params = [nn.Parameter(grad[t].clone()) for grad in grads]
        for p, grad in zip(params, grads):
            p.grad = grad[t].clone()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        expected.append([p.grad for p in params])
    clip_per_trial(grads, 5.0)
    for t in range(3):
        for grad, want in zip(grads, expected[t]):
            assert torch.allclose(grad[t], want, rtol=1e-12)


def test_clipped_trials_batched_equal_trials_alone():
    spec = TrialSpec(formation="blur", ops="all", epochs=1, width=4, profile=replace(PAPER, name="clip", grad_clip=0.01),
                     hparams=HParams(alpha_warmup=False))
    together = run_trials(spec, [5, 6], dtype=torch.float64)
    for seed, result in zip([5, 6], together):
        (alone,) = run_trials(spec, [seed], dtype=torch.float64)
        assert result.arch_psnr == pytest.approx(alone.arch_psnr, abs=1e-8) and result.genotype == alone.genotype
    (unclipped,) = run_trials(replace(spec, profile=PAPER), [5], dtype=torch.float64)
    assert unclipped.arch_psnr != pytest.approx(together[0].arch_psnr, abs=1e-3)


@pytest.mark.parametrize("name", sorted(LATER))
def test_a_setting_leaves_the_trials_it_cannot_enter_as_they_were(name):
    """``Profile.reaches`` is what lets a screened reading reuse the base profile's trials (``bohb-das
    table --layout fidelity --base``): where it says no, the numbers must be the same."""
    changed = replace(PAPER, name="changed", **{name: CHANGED[name]})
    cells = [(method, ops) for method in ("das", "random") for ops in ("good", "all")
             if not PAPER.reaches(changed, METHODS[method].one_shot, any(OPERATIONS[o].harmful for o in OP_SETS[ops]))]
    assert len(cells) < 4  # every setting enters some cell
    for method, ops in cells:
        spec = TrialSpec(formation="blur", ops=ops, method=method, epochs=1, width=4, hparams=HParams(alpha_warmup=False),
                         profile=PAPER)
        (before,) = run_trials(spec, [2])
        (after,) = run_trials(replace(spec, profile=changed), [2])
        assert (after.arch_psnr, after.genotype) == (before.arch_psnr, before.genotype)
        assert after.one_shot_psnr == before.one_shot_psnr or math.isnan(before.one_shot_psnr)
