"""Candidate operations and the mixed operation over them, batched over trials.

Every tensor carries the trial index as its leading dimension: signals are (T, batch, length),
parameters are (T, ...). Each operation has the form ``op(u) = direct(u) + coef * n(u)`` where ``n``
is the operation's own small network Conv1d(1, C, 3) -> BatchNorm -> ReLU -> Conv1d(C, 1, 3) (absent
for roll, noise and zero). A mixed operation ``sum_k w_k op_k(u)`` therefore evaluates all the
networks of its candidates in one fused pass: their first convolutions (with BatchNorm folded in) are
one batched matrix product over the concatenated channels, and their second convolutions, scaled by
``w_k * coef_k``, another. That is the same function as separate Conv1d/BatchNorm modules, with the
train-mode BatchNorm statistics computed exactly from the 3x3 covariance of the input taps (the first
convolution has one input channel), but with a handful of kernel calls instead of hundreds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bohb_das.errors import ConfigError
from bohb_das.kernels import FusedNet, fused_available
from bohb_das.rng import TrialStreams

BN_EPS = 1e-5
BN_MOMENTUM = 0.1
TAU_INIT = 0.5
NOISE_OP_STD = 0.1


Direct = Callable[[torch.Tensor, "torch.Tensor | None", "torch.Tensor | None", "Context"], torch.Tensor]


def _gradient_step(u: torch.Tensor, gradient: Any, tau: Any, ctx: "Context") -> torch.Tensor:
    return u - tau * gradient


def _noisy_gradient_step(u: torch.Tensor, gradient: Any, tau: Any, ctx: "Context") -> torch.Tensor:
    return u - tau * gradient + ctx.noise(u)


def _roll(u: torch.Tensor, gradient: Any, tau: Any, ctx: "Context") -> torch.Tensor:
    """A one-step circular shift along ``ctx.roll_dims`` (never the trial dimension)."""
    return torch.roll(u, (1,) * len(ctx.roll_dims), dims=ctx.roll_dims)


@dataclass(frozen=True)
class Operation:
    """``op(u) = direct(u) + coef * n(u)``.

    ``step``: the op owns a learnable step size tau > 0 and ``direct`` receives the data-term gradient
    ``A^T(A u - y)``. ``learned_net``: the op owns n(u); its coefficient is ``-tau`` for a step op
    (the learnable gradient descent of the paper, eq. 6) and 1 otherwise.
    """

    name: str
    direct: Direct | None
    learned_net: bool
    step: bool
    harmful: bool = False


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("learnable_gd", _gradient_step, learned_net=True, step=True),
        Operation("net", None, learned_net=True, step=False),
        Operation("roll", _roll, learned_net=False, step=False, harmful=True),
        Operation("noise", _noisy_gradient_step, learned_net=False, step=True, harmful=True),
        Operation("zero", None, learned_net=False, step=False),
    )
}

OP_SETS: dict[str, tuple[str, ...]] = {
    "good": ("learnable_gd", "net"),
    "all": ("learnable_gd", "net", "roll", "noise"),
}


def get_op_set(name: str) -> tuple[str, ...]:
    try:
        return OP_SETS[name]
    except KeyError:
        raise ConfigError(f"unknown operation set {name!r} (known: {', '.join(OP_SETS)})") from None


@dataclass
class Context:
    """What every operation may read during one forward pass over a batch.

    ``u0 = A^T y`` and ``normal = A^T A`` make the data-term gradient ``u @ normal - u0``; the noise
    operation draws from the per-trial ``streams`` at every call, in training and evaluation alike;
    the roll operation shifts along ``roll_dims`` (``Profile.roll_dims``).
    """

    u0: torch.Tensor
    normal: torch.Tensor
    streams: TrialStreams
    roll_dims: tuple[int, ...] = (-1,)

    def noise(self, like: torch.Tensor) -> torch.Tensor:
        return NOISE_OP_STD * self.streams.randn(*like.shape[1:], dtype=like.dtype)


def conv_taps(u: torch.Tensor) -> torch.Tensor:
    """(T, B, N) -> (T, B*N, 3): the zero-padded neighbourhood [u[n-1], u[n], u[n+1]] of each sample."""
    t, b, n = u.shape
    return F.pad(u, (1, 1)).unfold(-1, 3, 1).reshape(t, b * n, 3)


class MixedOp(nn.Module):
    """``sum_k w_k op_k(u)`` for T trials; with one-hot ``w`` it is a discrete layer of each trial."""

    def __init__(self, op_names: Sequence[str], trials: int, width: int, init: TrialStreams) -> None:
        super().__init__()
        self.op_names = tuple(op_names)
        self.ops = [OPERATIONS[name] for name in op_names]
        self.net_ops = [k for k, op in enumerate(self.ops) if op.learned_net]
        self.step_ops = [k for k, op in enumerate(self.ops) if op.step]
        self.width = width
        channels = width * len(self.net_ops)
        dtype = torch.float64  # drawn in float64 and cast by .to(): the same numbers on every dtype
        # Default PyTorch Conv1d init, drawn per trial; the first conv has no bias (BatchNorm follows).
        self.w1 = nn.Parameter(init.uniform(3, channels, bound=1 / math.sqrt(3), dtype=dtype))
        self.gamma = nn.Parameter(torch.ones(trials, channels, dtype=dtype))
        self.beta = nn.Parameter(torch.zeros(trials, channels, dtype=dtype))
        bound2 = 1 / math.sqrt(3 * width)
        self.w2 = nn.Parameter(init.uniform(channels, 3, bound=bound2, dtype=dtype))
        self.b2 = nn.Parameter(init.uniform(len(self.net_ops), bound=bound2, dtype=dtype))
        # tau = softplus(rho) keeps the step size positive.
        rho = math.log(math.expm1(TAU_INIT))
        self.rho = nn.Parameter(torch.full((trials, len(self.step_ops)), rho, dtype=dtype))
        self.register_buffer("running_mean", torch.zeros(trials, channels, dtype=dtype))
        self.register_buffer("running_var", torch.ones(trials, channels, dtype=dtype))

    def taus(self) -> torch.Tensor:
        return F.softplus(self.rho)

    def forward(self, u: torch.Tensor, weights: torch.Tensor, ctx: Context) -> torch.Tensor:
        """``u``: (T, B, N); ``weights``: (T, K) over this op's candidates."""
        taus = self.taus()[:, :, None, None]
        gradient = u @ ctx.normal - ctx.u0 if self.step_ops else None
        out = torch.zeros_like(u)
        coefs = []
        for k, op in enumerate(self.ops):
            tau = taus[:, self.step_ops.index(k)] if op.step else None
            if op.direct is not None:
                out = out + weights[:, k, None, None] * op.direct(u, gradient, tau, ctx)
            if op.learned_net:
                coefs.append(weights[:, k] * (-tau[:, 0, 0] if op.step else 1))
        if self.net_ops:
            out = out + self._nets(u, torch.stack(coefs, 1))
        return out

    def _nets(self, u: torch.Tensor, coefs: torch.Tensor) -> torch.Tensor:
        """``sum_j coefs[:, j] * n_j(u)`` over this op's networks, in one fused pass."""
        if self.training:
            mean, var = self._batch_statistics(conv_taps(u))
        else:
            mean, var = self.running_mean, self.running_var
        scale = self.gamma * torch.rsqrt(var + BN_EPS)
        shift = self.beta - mean * scale
        w1 = self.w1 * scale[:, None, :]
        w2 = self.w2 * coefs.repeat_interleave(self.width, dim=1)[:, :, None]
        bias = (coefs * self.b2).sum(1)[:, None, None]
        if fused_available(u.device):
            return FusedNet.apply(u, w1, shift, w2.transpose(1, 2)) + bias
        t, b, n = u.shape
        hidden = torch.relu(torch.baddbmm(shift[:, None, :], conv_taps(u), w1))
        z = torch.bmm(hidden, w2).view(t, b, n, 3)
        return z[..., 1] + F.pad(z[..., :-1, 0], (1, 0)) + F.pad(z[..., 1:, 2], (0, 1)) + bias

    def _batch_statistics(self, taps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Train-mode BatchNorm mean and (biased) variance of the first convolution's outputs, exactly,
        from the mean and 3x3 covariance of its input taps; updates the running statistics."""
        tap_mean = taps.mean(1)
        centered = taps - tap_mean[:, None, :]
        cov = centered.transpose(1, 2) @ centered / taps.shape[1]
        mean = (tap_mean[:, None, :] @ self.w1)[:, 0]
        var = ((cov @ self.w1) * self.w1).sum(1)
        with torch.no_grad():
            unbiased = var * taps.shape[1] / (taps.shape[1] - 1)
            self.running_mean.lerp_(mean, BN_MOMENTUM)
            self.running_var.lerp_(unbiased, BN_MOMENTUM)
        return mean, var
