"""The mixed operation ``sum_k w_k op_k(u)`` over an edge's candidates, batched over trials.

Every tensor carries the trial index as its leading dimension: signals are (T, batch, length),
parameters are (T, ...). Each operation has the form ``op(u) = direct(u) + coef * n(u)`` where ``n``
is the operation's own small network Conv1d(1, C, 3) -> BatchNorm -> ReLU -> Conv1d(C, 1, 3) (absent
for roll, noise and zero). A mixed operation ``sum_k w_k op_k(u)`` therefore evaluates all the
networks of its candidates in one fused pass: their first convolutions (with BatchNorm folded in) are
one batched matrix product over the concatenated channels, and their second convolutions, scaled by
``w_k * coef_k``, another. That is the same function as separate Conv1d/BatchNorm modules, with the
train-mode BatchNorm statistics computed exactly from the 3x3 covariance of the input taps (the first
convolution has one input channel), but with a handful of kernel calls instead of hundreds.

Images (T, batch, height, width) take the same operations with Conv2d(1, C, 3x3) -> BatchNorm2d ->
ReLU -> Conv2d(C, 1, 3x3) networks, computed as batched matrix products over the 3x3
neighbourhoods in plain PyTorch (the fused kernel is 1-D): the parameters hold ``3 ** dims`` taps per
channel either way.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bohb_das.errors import ConfigError
from bohb_das.kernels import FusedNet, TapMoments, fused_available
from bohb_das.operations import OPERATIONS, Context, per_trial
from bohb_das.profiles import Profile
from bohb_das.rng import TrialStreams

BN_EPS = 1e-5


def conv_taps(u: torch.Tensor) -> torch.Tensor:
    """(T, B, N) -> (T, B*N, 3): the zero-padded neighbourhood [u[n-1], u[n], u[n+1]] of each sample."""
    t, b, n = u.shape
    return F.pad(u, (1, 1)).unfold(-1, 3, 1).reshape(t, b * n, 3)


def tap_moments(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, 3) mean and (T, 3, 3) covariance of the taps [u[n-1], u[n], u[n+1]] (zero-padded) of each
    trial's batch; ``bohb_das.kernels.TapMoments`` computes the same on the CPU.

    The taps are shifted windows of one zero-padded row ``w``, so their moments are window sums of
    the per-position sums of ``w`` and of the diagonals of its (N+2)x(N+2) Gram matrix over the batch
    (one batched matrix product): far cheaper than building the (T, B*N, 3) taps. ``w`` is the padded
    row less its mean: covariances do not move, and float32 keeps its digits.
    """
    t, b, n = u.shape
    count = b * n
    center = u.mean((1, 2))
    w = F.pad(u, (1, 1)) - center[:, None, None]
    first = w.sum(1)  # (T, N+2), one sum per position
    gram = w.transpose(1, 2) @ w
    second, lag1, lag2 = (gram.diagonal(k, 1, 2) for k in range(3))

    def window(sums: torch.Tensor, start: int) -> torch.Tensor:
        return sums[:, start : start + n].sum(1)

    tap = torch.stack([window(first, k) for k in range(3)], 1) / count  # (T, 3), less the center
    products = [
        [window(second, 0), window(lag1, 0), lag2.sum(1)],
        [None, window(second, 1), window(lag1, 1)],
        [None, None, window(second, 2)],
    ]
    rows = [[products[min(i, j)][max(i, j)] for j in range(3)] for i in range(3)]
    cov = torch.stack([torch.stack(row, 1) for row in rows], 1) / count - tap[:, :, None] * tap[:, None, :]
    return tap + center[:, None], cov


class MixedOp(nn.Module):
    """``sum_k w_k op_k(u)`` for T trials; with one-hot ``w`` it is a discrete layer of each trial."""

    def __init__(self, op_names: Sequence[str], trials: int, width: int, init: TrialStreams, dims: int = 1) -> None:
        super().__init__()
        if dims not in (1, 2):
            raise ConfigError(f"operations act on 1-D signals or 2-D images, not {dims}-D ones")
        self.op_names = tuple(op_names)
        self.ops = [OPERATIONS[name] for name in op_names]
        self.net_ops = [k for k, op in enumerate(self.ops) if op.learned_net]
        self.step_ops = [k for k, op in enumerate(self.ops) if op.step]
        self.width = width
        self.dims = dims
        taps = 3**dims
        channels = width * len(self.net_ops)
        dtype = torch.float64  # drawn in float64 and cast by .to(): the same numbers on every dtype
        # Default PyTorch Conv1d/2d init, drawn per trial; the first conv has no bias (BatchNorm follows).
        self.w1 = nn.Parameter(init.uniform(taps, channels, bound=1 / math.sqrt(taps), dtype=dtype))
        self.gamma = nn.Parameter(torch.ones(trials, channels, dtype=dtype))
        self.beta = nn.Parameter(torch.zeros(trials, channels, dtype=dtype))
        bound2 = 1 / math.sqrt(taps * width)
        self.w2 = nn.Parameter(init.uniform(channels, taps, bound=bound2, dtype=dtype))
        self.b2 = nn.Parameter(init.uniform(len(self.net_ops), bound=bound2, dtype=dtype))
        self.rho = nn.Parameter(torch.zeros(trials, len(self.step_ops), dtype=dtype))
        self.register_buffer("running_mean", torch.zeros(trials, channels, dtype=dtype))
        self.register_buffer("running_var", torch.ones(trials, channels, dtype=dtype))
        self.chosen: torch.Tensor | None = None  # (T,) candidate index per trial: see forward
        self.use_profile(Profile())

    def use_profile(self, profile: Profile) -> None:
        """The profile's step-size reading (``tau_param``, ``tau_init``, ``tau_max``: rho starts where
        tau is ``tau_init``) and BatchNorm momentum."""
        self.tau_param, self.tau_max, self.bn_momentum = profile.tau_param, profile.tau_max, profile.bn_momentum
        tau = profile.tau_init
        if self.tau_param == "softplus":
            rho = math.log(math.expm1(tau))
        elif self.tau_param == "sigmoid":
            rho = math.log(tau / (self.tau_max - tau))
        else:
            rho = tau
        with torch.no_grad():
            self.rho.fill_(rho)

    def taus(self) -> torch.Tensor:
        """(T, step ops) step sizes from rho, as ``tau_param`` says."""
        if self.tau_param == "softplus":
            return F.softplus(self.rho)
        if self.tau_param == "sigmoid":
            return self.tau_max * torch.sigmoid(self.rho)
        return self.rho

    def forward(self, u: torch.Tensor, weights: torch.Tensor, ctx: Context, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """``u``: (T, B, *signal); ``weights``: (T, K) over this op's candidates (any columns beyond
        K are ignored); ``hidden``: (T, width) scales of every net's hidden channels (a width choice:
        ones on the channels a narrower net keeps, zeros beyond), None for ones.

        With ``chosen`` set (``SearchSpace.fix``) only the candidates that some trial of the batch
        chose are computed, and each trial's networks are its chosen one's channels alone: the same
        numbers as the supernet with one-hot weights, at the cost of the architecture. An unchosen
        random candidate still draws its noise, so that the trial streams stay where they would be.
        """
        taus = self.taus()
        used = [True] * len(self.ops) if self.chosen is None else [bool((self.chosen == k).any()) for k in range(len(self.ops))]
        needs_gradient = any(used[k] for k in self.step_ops)
        gradient = ctx.data_gradient(u) if needs_gradient else None
        out = torch.zeros_like(u)
        coefs = []
        for k, op in enumerate(self.ops):
            tau = taus[:, self.step_ops.index(k)] if op.step else None
            if op.direct is not None and used[k]:
                out = out + per_trial(weights[:, k], u) * op.direct(u, gradient, None if tau is None else per_trial(tau, u), ctx)
            elif op.random:
                ctx.noise(u)
            if op.learned_net:
                coefs.append(weights[:, k] * (-tau if op.step else 1))
        if any(used[k] for k in self.net_ops):
            out = out + self._nets(u, torch.stack(coefs, 1), hidden)
        return out

    def _nets(self, u: torch.Tensor, coefs: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """``sum_j coefs[:, j] * n_j(u)`` over this op's networks, in one fused pass; with ``chosen``
        set, over each trial's chosen network alone (any one, with coefficient 0, where it chose none; the
        fused kernel skips those trials). ``hidden`` scales the hidden channels after the ReLU, folded
        into the second convolution like the coefficients."""
        w1, gamma, beta, w2, b2 = self.w1, self.gamma, self.beta, self.w2, self.b2
        running = (self.running_mean, self.running_var)
        channels = active = None
        if self.chosen is not None:
            index = {k: j for j, k in enumerate(self.net_ops)}
            chosen = self.chosen.tolist()
            active = torch.tensor([k in index for k in chosen])  # trials whose choice has a net
            net = torch.tensor([index.get(k, 0) for k in chosen], device=u.device)[:, None]
            channels = net * self.width + torch.arange(self.width, device=u.device)
            w1 = w1.gather(2, channels[:, None, :].expand(-1, w1.shape[1], -1))
            w2 = w2.gather(1, channels[:, :, None].expand(-1, -1, w2.shape[2]))
            gamma, beta, b2, coefs = gamma.gather(1, channels), beta.gather(1, channels), b2.gather(1, net), coefs.gather(1, net)
            running = tuple(stat.gather(1, channels) for stat in running)
        scale = coefs.repeat_interleave(self.width, dim=1)  # (T, hidden channels of the nets computed)
        if hidden is not None:
            scale = scale * hidden.repeat(1, coefs.shape[1])
        if self.dims == 2:
            return self._nets_2d(u, w1, gamma, beta, w2, coefs, scale, b2, running, channels)
        if self.training:
            mean, var = self._batch_statistics(u, w1, channels)
        else:
            mean, var = running
        bn_scale = gamma * torch.rsqrt(var + BN_EPS)
        shift = beta - mean * bn_scale
        w1 = w1 * bn_scale[:, None, :]
        w2 = w2 * scale[:, :, None]
        bias = (coefs * b2).sum(1)[:, None, None]
        if fused_available(u.device):
            return FusedNet.apply(u, w1, shift, w2.transpose(1, 2), active) + bias
        t, b, n = u.shape
        hidden = torch.relu(torch.baddbmm(shift[:, None, :], conv_taps(u), w1))
        z = torch.bmm(hidden, w2).view(t, b, n, 3)
        return z[..., 1] + F.pad(z[..., :-1, 0], (1, 0)) + F.pad(z[..., 1:, 2], (0, 1)) + bias

    def _batch_statistics(self, u: torch.Tensor, w1: torch.Tensor,
                          channels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Train-mode BatchNorm mean and (biased) variance of the first convolution's outputs, exactly,
        from the mean and 3x3 covariance of its three input taps (it has one input channel); updates
        the running statistics (of the given ``channels`` only, where set)."""
        tap, cov = TapMoments.apply(u) if fused_available(u.device) else tap_moments(u)
        mean = (tap[:, None, :] @ w1)[:, 0]
        var = ((cov @ w1) * w1).sum(1)
        self._update_running(mean, var, u.shape[1] * u.shape[2], channels)
        return mean, var

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, count: int, channels: torch.Tensor | None) -> None:
        """BatchNorm's running statistics (the unbiased variance), of the given ``channels`` only where set."""
        unbiased = var * count / (count - 1)
        for stat, value in ((self.running_mean, mean), (self.running_var, unbiased)):
            if channels is None:
                stat.lerp_(value, self.bn_momentum)
            else:
                stat.scatter_(1, channels, stat.gather(1, channels).lerp(value, self.bn_momentum))

    def _nets_2d(self, u: torch.Tensor, w1: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, w2: torch.Tensor,
                 coefs: torch.Tensor, scale: torch.Tensor, b2: torch.Tensor, running: tuple[torch.Tensor, torch.Tensor],
                 channels: torch.Tensor | None) -> torch.Tensor:
        """The networks on images, as batched matrix products over the 3x3 neighbourhoods (im2col:
        PyTorch's grouped Conv2d backward took 50 ms a call here), BatchNorm from the pre-activations."""
        t, b, h, w = u.shape
        taps = F.unfold(u.reshape(t * b, 1, h, w), 3, padding=1)  # (T*B, 9, H*W)
        pre = taps.view(t, b, 9, h * w).transpose(2, 3).reshape(t, b * h * w, 9) @ w1  # (T, B*H*W, C)
        if self.training:
            mean, var = pre.mean(1), pre.var(1, unbiased=False)
            self._update_running(mean.detach(), var.detach(), b * h * w, channels)
        else:
            mean, var = running
        bn_scale = gamma * torch.rsqrt(var + BN_EPS)
        hidden = torch.relu(pre * bn_scale[:, None, :] + (beta - mean * bn_scale)[:, None, :])
        w2 = w2 * scale[:, :, None]
        # fold adds column k at offset -d_k; a convolution reads it at +d_k: hence the reversed taps
        z = (hidden @ w2.flip(-1)).view(t, b, h * w, 9).transpose(2, 3).reshape(t * b, 9, h * w)
        out = F.fold(z, (h, w), 3, padding=1).view(t, b, h, w)
        return out + per_trial((coefs * b2).sum(1), u)
