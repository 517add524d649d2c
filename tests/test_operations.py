import pytest
import torch
from torch import nn

from bohb_das.operations import mixed as mixed_module
from bohb_das.kernels import load as load_kernel
from bohb_das.errors import ConfigError
from bohb_das.problems import get_problem
from bohb_das.operations import OP_SETS, OPERATIONS, Context
from bohb_das.operations.mixed import MixedOp
from bohb_das.rng import TrialStreams

T, B, N, C = 3, 16, 50, 8


def make_context(seeds=(0, 1, 2)):
    problem = get_problem("blur").to("cpu", torch.float64)
    y = torch.randn(len(seeds), B, N, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    return Context(problem.adjoint(y), problem, TrialStreams(seeds, "noise"))


def make_op(names, trials=T):
    return MixedOp(names, trials, C, TrialStreams(range(trials), "init")).double()


def one_hot(k, total, trials=T):
    return nn.functional.one_hot(torch.full((trials,), k), total).double()


def reference_net(op: MixedOp, j: int, trial: int, u: torch.Tensor) -> torch.Tensor:
    """Network j of ``op`` for one trial as plain Conv1d / BatchNorm1d modules (train mode)."""
    sl = slice(j * C, (j + 1) * C)
    conv1 = nn.Conv1d(1, C, 3, padding=1, bias=False).double()
    bn = nn.BatchNorm1d(C).double()
    conv2 = nn.Conv1d(C, 1, 3, padding=1).double()
    with torch.no_grad():
        conv1.weight.copy_(op.w1[trial, :, sl].T[:, None, :])
        bn.weight.copy_(op.gamma[trial, sl])
        bn.bias.copy_(op.beta[trial, sl])
        conv2.weight.copy_(op.w2[trial, sl][None])
        conv2.bias.copy_(op.b2[trial, j])
    return conv2(torch.relu(bn(conv1(u[:, None]))))[:, 0]


needs_kernel = pytest.mark.skipif(load_kernel() is None, reason="the fused CPU kernel could not be built here")


@pytest.mark.parametrize("fused", [pytest.param(True, marks=needs_kernel), False])
def test_net_equals_conv_batchnorm_modules(fused, monkeypatch):
    if not fused:
        monkeypatch.setattr(mixed_module, "fused_available", lambda device: False)
    op = make_op(["net"])
    u = torch.randn(T, B, N, dtype=torch.float64)
    out = op(u, one_hot(0, 1), make_context())
    for trial in range(T):
        assert torch.allclose(out[trial], reference_net(op, 0, trial, u[trial]), atol=1e-10)


@needs_kernel
def test_fused_kernel_matches_plain_pytorch_with_gradients(monkeypatch):
    u = torch.randn(T, B, N, dtype=torch.float64, requires_grad=True)
    weights = torch.softmax(torch.randn(T, 4, dtype=torch.float64), -1)
    results = []
    for fused in (True, False):
        monkeypatch.setattr(mixed_module, "fused_available", lambda device, f=fused: f)
        op = make_op(OP_SETS["all"])
        out = op(u, weights, make_context())
        params = [u, op.w1, op.gamma, op.beta, op.w2, op.b2, op.rho]
        results.append((out, torch.autograd.grad((out**2).sum(), params), op.running_var.clone()))
    (out1, grads1, rv1), (out2, grads2, rv2) = results
    assert torch.allclose(out1, out2, atol=1e-10)
    assert torch.allclose(rv1, rv2, atol=1e-12)
    for g1, g2 in zip(grads1, grads2):
        assert torch.allclose(g1, g2, atol=1e-8)


@needs_kernel
@pytest.mark.parametrize("batch, channels", [(1, 1), (7, 3), (37, 5), (130, 66)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_kernels_match_the_plain_formulation_at_any_batch_and_width(batch, channels, dtype):
    """The kernels work on blocks of whole vectors across the batch and on channels in groups:
    batches and widths that fill neither must give the same function and gradients."""
    from bohb_das.kernels import FusedNet, TapMoments

    gen = torch.Generator().manual_seed(batch * 100 + channels)
    u = torch.randn(2, batch, 11, dtype=dtype, generator=gen).add_(0.3).requires_grad_()
    w1 = torch.randn(2, 3, channels, dtype=dtype, generator=gen).requires_grad_()
    shift = torch.randn(2, channels, dtype=dtype, generator=gen).requires_grad_()
    w2t = torch.randn(2, 3, channels, dtype=dtype, generator=gen).requires_grad_()
    g_out = torch.randn(2, batch, 11, dtype=dtype, generator=gen)
    g_mean, g_cov = torch.randn(2, 3, dtype=dtype, generator=gen), torch.randn(2, 3, 3, dtype=dtype, generator=gen)

    def plain_net():
        hidden = torch.relu(torch.baddbmm(shift[:, None, :], mixed_module.conv_taps(u), w1))
        z = torch.bmm(hidden, w2t.transpose(1, 2)).view(2, batch, 11, 3)
        return z[..., 1] + nn.functional.pad(z[..., :-1, 0], (1, 0)) + nn.functional.pad(z[..., 1:, 2], (0, 1))

    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    inputs = (u, w1, shift, w2t)
    fused, plain = FusedNet.apply(*inputs), plain_net()
    torch.testing.assert_close(fused, plain, **tol)
    for a, b in zip(torch.autograd.grad(fused, inputs, g_out), torch.autograd.grad(plain, inputs, g_out)):
        torch.testing.assert_close(a, b, **tol)
    (mean, cov), (plain_mean, plain_cov) = TapMoments.apply(u), mixed_module.tap_moments(u)
    torch.testing.assert_close(mean, plain_mean, **tol)
    torch.testing.assert_close(cov, plain_cov, **tol)
    grads = [torch.autograd.grad((m * g_mean).sum() + (c * g_cov).sum(), u)[0]
             for m, c in ((mean, cov), (plain_mean, plain_cov))]
    torch.testing.assert_close(*grads, **tol)


@needs_kernel
def test_fused_kernel_lets_a_diverged_trial_show():
    from bohb_das.kernels import FusedNet

    u = torch.randn(2, 20, 11, dtype=torch.float64)
    u[1, 3, 4] = float("nan")
    out = FusedNet.apply(u, torch.ones(2, 3, 4, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64),
                         torch.ones(2, 3, 4, dtype=torch.float64))
    assert torch.isfinite(out[0]).all() and torch.isnan(out[1, 3]).any() and torch.isfinite(out[1, 4]).all()


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_operation_keeps_the_shape(name):
    op = make_op([name])
    u = torch.randn(T, B, N, dtype=torch.float64)
    assert op(u, one_hot(0, 1), make_context()).shape == (T, B, N)


def test_learnable_gd_is_a_gradient_step_minus_tau_times_its_net():
    op = make_op(["learnable_gd"])
    ctx = make_context()
    u = torch.randn(T, B, N, dtype=torch.float64)
    tau = op.taus()[:, 0]
    out = op(u, one_hot(0, 1), ctx)
    for t in range(T):
        step = u[t] - tau[t] * (u[t] @ ctx.problem.normal - ctx.u0[t])
        assert torch.allclose(out[t], step - tau[t] * reference_net(op, 0, t, u[t]), atol=1e-10)
    assert bool((tau > 0).all())


def test_roll_is_circular_along_the_signal_only():
    op = make_op(["roll"])
    u = torch.arange(T * B * N, dtype=torch.float64).reshape(T, B, N)
    out = op(u, one_hot(0, 1), make_context())
    assert torch.equal(out[..., 1:], u[..., :-1]) and torch.equal(out[..., 0], u[..., -1])


def test_noise_is_fresh_at_every_call_and_zero_is_zero():
    op = make_op(["noise", "zero"])
    ctx = make_context()
    u = torch.randn(T, B, N, dtype=torch.float64)
    with torch.no_grad():
        first, second = op(u, one_hot(0, 2), ctx), op(u, one_hot(0, 2), ctx)
    assert not torch.equal(first, second)
    assert 0.05 < float((first - second).std()) / 2**0.5 < 0.15
    assert torch.equal(op(u, one_hot(1, 2), ctx), torch.zeros_like(u))


def test_mixed_op_is_the_weighted_sum_of_its_operations(monkeypatch):
    monkeypatch.setattr(mixed_module, "fused_available", lambda device: False)
    op = make_op(["learnable_gd", "net", "roll"])
    u = torch.randn(T, B, N, dtype=torch.float64)
    w = torch.softmax(torch.randn(T, 3, dtype=torch.float64), -1)
    mixed = op(u, w, make_context())
    single = sum(w[:, k, None, None] * op(u, one_hot(k, 3), make_context()) for k in range(3))
    # the running statistics move on every train-mode call, the outputs must not depend on them
    assert torch.allclose(mixed, single, atol=1e-10)


def test_op_sets_and_unknown_names():
    assert OP_SETS["good"] == ("learnable_gd", "net")
    assert OP_SETS["all"] == ("learnable_gd", "net", "roll", "noise")
    with pytest.raises(ConfigError, match="unknown operation set 'bad'"):
        OP_SETS["bad"]


@needs_kernel
def test_fused_kernel_skips_inactive_trials_with_zero_output_and_gradients():
    """Retraining marks the trials whose chosen operation has no network: they are not computed, and
    the others get exactly what they get when every trial is computed."""
    from bohb_das.kernels import FusedNet

    gen = torch.Generator().manual_seed(3)
    inputs = [torch.randn(*shape, dtype=torch.float64, generator=gen).requires_grad_()
              for shape in ((3, 20, 11), (3, 3, 5), (3, 5), (3, 3, 5))]
    g_out = torch.randn(3, 20, 11, dtype=torch.float64, generator=gen)
    active = torch.tensor([True, False, True])
    every = FusedNet.apply(*inputs)
    some = FusedNet.apply(*inputs, active)
    assert torch.equal(some[active], every[active]) and torch.equal(some[1], torch.zeros_like(some[1]))
    for a, b in zip(torch.autograd.grad(every, inputs, g_out), torch.autograd.grad(some, inputs, g_out)):
        assert torch.equal(b[active], a[active]) and not b[1].any()
