"""CLEARER's multi-scale space (Gou et al., NeurIPS 2020), scaled down, for 1-D signals and 2-D images.

An HRNet-like supernet keeps branches at full, 1/2 and 1/4 resolution (32, 16, 8 pixels of a 2-D
patch; 50, 25, 13 samples of a 1-D signal). Each of its searched modules (3 stages of 4) is
``w_p P(X) + w_f F(X)``: a *parallel* module P (a residual block on every branch, no exchange) or a
*fusion* module F (every branch receives the sum of all branches, resampled to its resolution: a
1x1 convolution and nearest upsampling from a coarser branch, strided 3x3 convolutions from a finer
one). Stage 1 has two branches, stages 2 and 3 three; a strided convolution of the coarsest branch
opens each new one. The head fuses every branch into the full resolution, and a 3x3 convolution
gives the correction that the space's residual path adds to the back-projection.

The candidates of an edge are the two module types, not operations: ``--ops`` does not apply. Every
convolution has its own weights per trial and runs as one grouped convolution over the trials; the
BatchNorms keep statistics per trial, so a trial's numbers do not depend on its batch.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bohb_das.operations import Context, per_trial
from bohb_das.operations.mixed import BN_EPS
from bohb_das.profiles import Profile
from bohb_das.rng import TrialStreams
from bohb_das.search_spaces import SPACES, Genotype, SearchSpace

#: Branches of each stage (its modules' count is MODULES_PER_STAGE).
STAGE_BRANCHES = (2, 3, 3)
MODULES_PER_STAGE = 4
MODULE_TYPES = ("parallel", "fusion")


class Conv(nn.Module):
    """A convolution of ``c_in`` to ``c_out`` channels with its own weights per trial, PyTorch's
    default initialization drawn from each trial's stream; (T, B, C, *signal) in and out."""

    def __init__(self, init: TrialStreams, c_in: int, c_out: int, kernel: int, dims: int,
                 stride: int = 1, bias: bool = False) -> None:
        super().__init__()
        bound = 1 / math.sqrt(c_in * kernel**dims)
        self.weight = nn.Parameter(init.uniform(c_out, c_in, *[kernel] * dims, bound=bound, dtype=torch.float64))
        self.bias = nn.Parameter(init.uniform(c_out, bound=bound, dtype=torch.float64)) if bias else None
        self.stride, self.dims = stride, dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, c = x.shape[:3]
        weight = self.weight.flatten(0, 1)  # (T * c_out, c_in, *kernel): one group per trial
        conv = F.conv1d if self.dims == 1 else F.conv2d
        y = conv(x.transpose(0, 1).reshape(b, t * c, *x.shape[3:]), weight, None, self.stride,
                 self.weight.shape[-1] // 2, 1, t)
        y = y.view(b, t, -1, *y.shape[2:]).transpose(0, 1)
        return y if self.bias is None else y + self.bias.view(t, 1, -1, *[1] * self.dims)


class BatchNorm(nn.Module):
    """BatchNorm over each trial's batch and positions, with running statistics per trial and channel
    (momentum: the profile's)."""

    def __init__(self, trials: int, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(trials, channels, dtype=torch.float64))
        self.beta = nn.Parameter(torch.zeros(trials, channels, dtype=torch.float64))
        self.register_buffer("running_mean", torch.zeros(trials, channels, dtype=torch.float64))
        self.register_buffer("running_var", torch.ones(trials, channels, dtype=torch.float64))
        self.momentum = Profile().bn_momentum

    def use_profile(self, profile: Profile) -> None:
        self.momentum = profile.bn_momentum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (x.shape[0], 1, x.shape[2], *[1] * (x.dim() - 3))
        if self.training:
            dims = (1, *range(3, x.dim()))
            mean, var = x.mean(dims), x.var(dims, unbiased=False)
            count = x.numel() // (x.shape[0] * x.shape[2])
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach() * count / (count - 1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        scale = self.gamma * torch.rsqrt(var + BN_EPS)
        return x * scale.view(shape) + (self.beta - mean * scale).view(shape)


class ConvBN(nn.Sequential):
    """A convolution without bias, then BatchNorm."""

    def __init__(self, init: TrialStreams, trials: int, c_in: int, c_out: int, kernel: int, dims: int, stride: int = 1) -> None:
        super().__init__(Conv(init, c_in, c_out, kernel, dims, stride), BatchNorm(trials, c_out))


class Residual(nn.Module):
    """The basic residual block: ``relu(x + bn(conv(relu(bn(conv(x))))))``, 3x3 convolutions."""

    def __init__(self, init: TrialStreams, trials: int, width: int, dims: int) -> None:
        super().__init__()
        self.first = ConvBN(init, trials, width, width, 3, dims)
        self.second = ConvBN(init, trials, width, width, 3, dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.second(torch.relu(self.first(x))))


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour resampling of (T, B, C, *signal) to ``size``."""
    t, b = x.shape[:2]
    return F.interpolate(x.flatten(0, 1), size=tuple(size), mode="nearest").view(t, b, *x.shape[2:3], *size)


class Parallel(nn.Module):
    """A residual block on every branch, each branch on its own."""

    def __init__(self, init: TrialStreams, trials: int, width: int, dims: int, branches: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Residual(init, trials, width, dims) for _ in range(branches))

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [block(x) for block, x in zip(self.blocks, xs)]


class Exchange(nn.Module):
    """Every branch i gets ``sum_j R_ij(x_j)`` (R_ii the identity; from a coarser branch a 1x1
    convolution, then nearest upsampling; from a finer one, i - j strided 3x3 convolutions, a ReLU
    between them), then a ReLU: CLEARER's fusion module, and with ``targets=1`` the head's fusion
    into the full resolution."""

    def __init__(self, init: TrialStreams, trials: int, width: int, dims: int, branches: int, targets: int | None = None) -> None:
        super().__init__()
        self.paths = nn.ModuleDict()
        for i in range(branches if targets is None else targets):
            for j in range(branches):
                if j > i:
                    self.paths[f"{j}to{i}"] = ConvBN(init, trials, width, width, 1, dims)
                elif j < i:
                    self.paths[f"{j}to{i}"] = nn.ModuleList(
                        ConvBN(init, trials, width, width, 3, dims, stride=2) for _ in range(i - j))
        self.branches, self.targets = branches, branches if targets is None else targets

    def path(self, x: torch.Tensor, j: int, i: int, size: Sequence[int]) -> torch.Tensor:
        """Branch j's contribution to branch i (of ``size``)."""
        if j == i:
            return x
        if j > i:
            return resize(self.paths[f"{j}to{i}"](x), size)
        convs = self.paths[f"{j}to{i}"]
        for k, conv in enumerate(convs):
            x = conv(x)
            if k < len(convs) - 1:
                x = torch.relu(x)
        return x

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        outs = []
        for i in range(self.targets):
            size = xs[i].shape[3:]
            outs.append(torch.relu(sum(self.path(x, j, i, size) for j, x in enumerate(xs))))
        return outs


@SPACES.register("multiscale")
class MultiScaleSpace(SearchSpace):
    """CLEARER's space (module docstring): 12 edges, each choosing a parallel or a fusion module."""

    name = "multiscale"
    edges = tuple(f"s{s}m{m}" for s in range(len(STAGE_BRANCHES)) for m in range(MODULES_PER_STAGE))
    own_candidates = MODULE_TYPES

    def __init__(self, candidates: Sequence[str], trials: int, width: int, init: TrialStreams,
                 skip_init: float = 1.0, skip_learnable: bool = True, dims: int = 1) -> None:
        super().__init__(candidates, trials, width, init, skip_init, skip_learnable, dims)
        branches = max(STAGE_BRANCHES)
        self.stem = ConvBN(init, trials, 1, width, 3, dims)
        self.opening = nn.ModuleList(ConvBN(init, trials, width, width, 3, dims, stride=2) for _ in range(branches - 1))
        self.searched = nn.ModuleList(
            nn.ModuleList([Parallel(init, trials, width, dims, n), Exchange(init, trials, width, dims, n)])
            for n in STAGE_BRANCHES for _ in range(MODULES_PER_STAGE)
        )
        self.head = Exchange(init, trials, width, dims, branches, targets=1)
        self.out = Conv(init, width, 1, 3, dims, bias=True)
        self.used: list[list[bool]] | None = None  # per edge and module type, once fixed: see ``fix``

    def fix(self, genotypes: Sequence[Genotype]) -> torch.Tensor:
        """As the base; a module type no trial of the batch keeps on an edge is not computed there."""
        weights = super().fix(genotypes)
        self.used = (weights != 0).any(0).tolist()
        return weights

    def body(self, u0: torch.Tensor, weights: torch.Tensor, ctx: Context) -> torch.Tensor:
        xs = [torch.relu(self.stem(u0.unsqueeze(2)))]
        edge = 0
        for n in STAGE_BRANCHES:
            while len(xs) < n:
                xs.append(torch.relu(self.opening[len(xs) - 1](xs[-1])))
            for _ in range(MODULES_PER_STAGE):
                mixed = [torch.zeros_like(x) for x in xs]
                for k, module in enumerate(self.searched[edge]):
                    if self.used is not None and not self.used[edge][k]:
                        continue
                    mixed = [m + per_trial(weights[:, edge, k], y) * y for m, y in zip(mixed, module(xs))]
                xs = mixed
                edge += 1
        (full,) = self.head(xs)
        return self.out(full).squeeze(2)
