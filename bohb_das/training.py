"""Weight training and evaluation of batched networks, shared by the search and the retraining.

The loss of a batch of T trials is the SUM of the per-trial losses (each the mean or the sum of the
squared errors over its signals, as the profile says): with elementwise optimizers (Adam, SGD) over
stacked parameters each trial then gets exactly the update it would get alone. Nothing here couples
trials, so a trial whose loss turns non-finite is marked failed and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Sequence

import torch
from torch import nn

from bohb_das.hparams import HParams
from bohb_das.operations import Context
from bohb_das.problems.base import Problem
from bohb_das.optim import BlockOptimizer, adam, blocks_of, clip_per_trial, per_trial
from bohb_das.profiles import Profile, ProfileReader
from bohb_das.rng import TrialStreams
from bohb_das.search_spaces import Genotype, SearchSpace

STEPS_PER_EPOCH = 19  # of the problem's batch size: 2432 signals per epoch for the 1-D problems
WEIGHT_WARMUP_FRACTION = 0.1
EVAL_CHUNK = 608  # validation samples per forward pass: 4 chunks, cache-friendly on CPU

Progress = Callable[[str, int, int], None]


class TrialData:
    """The data of T trials: a problem on a device with one random stream per trial (its samples and
    the noise operation's draws); the problem's profile decides the roll, the loss reductions, the
    PSNR peak and the residual form."""

    def __init__(
        self,
        problem: Problem,
        seeds: Sequence[int],
        stream: str,
        device: torch.device | str,
        dtype: torch.dtype,
    ) -> None:
        self.problem = problem.to(device, dtype)
        self.seeds = list(seeds)
        self.streams = TrialStreams(seeds, stream, device)
        self.device = self.problem.device
        self.dtype = dtype

    @property
    def profile(self) -> Profile:
        return self.problem.profile

    @property
    def trials(self) -> int:
        return len(self.streams)

    def context(self, y: torch.Tensor) -> Context:
        return Context(self.problem.adjoint(y), self.problem, self.streams,
                       self.profile.roll_dims(len(self.problem.signal_shape)))

    def batch(self) -> tuple[torch.Tensor, Context]:
        """A fresh (T, batch size, *signal) batch, each trial's drawn from its own stream."""
        x, y = self.problem.sample(
            self.problem.batch_size,
            partial(self.streams.rand, dtype=self.dtype),
            partial(self.streams.randn, dtype=self.dtype),
        )
        return x, self.context(y)

    def derived(self, stream: str, seeds: Sequence[int] | None = None) -> "TrialData":
        """The same problem and settings with other streams (evaluation, a subset of the trials)."""
        seeds = self.seeds if seeds is None else seeds
        return TrialData(self.problem, seeds, stream, self.device, self.dtype)


def trial_losses(
    model: SearchSpace,
    weights: torch.Tensor,
    x: torch.Tensor,
    ctx: Context,
    reduction: str,
    parameters: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """(T,) squared error of each trial, the ``mean`` or ``sum`` over its signals; ``parameters``
    (name -> tensor) stand in for the model's own, as in an unrolled step."""
    if parameters is None:
        out = model(ctx.u0, weights, ctx)
    else:
        out = torch.func.functional_call(model, parameters, (ctx.u0, weights, ctx))
    squared = ((out - x) ** 2).flatten(1)  # (T, every signal's every sample)
    return squared.sum(1) if reduction == "sum" else squared.mean(1)


@dataclass
class Failures:
    """Per-trial failure reasons; the first non-finite loss of a trial fails it for good."""

    reasons: list[str | None] = field(default_factory=list)

    @classmethod
    def none(cls, trials: int) -> "Failures":
        return cls([None] * trials)

    def check(self, losses: torch.Tensor, where: str, watched: Sequence[bool] | None = None) -> None:
        """Fails the trials whose loss is not finite, among the ``watched`` ones (default: all)."""
        for t, finite in enumerate(torch.isfinite(losses.detach()).tolist()):
            if not finite and self.reasons[t] is None and (watched is None or watched[t]):
                self.reasons[t] = f"non-finite loss at {where}"

    @property
    def all_failed(self) -> bool:
        return all(reason is not None for reason in self.reasons)


def train(
    model: SearchSpace,
    weights: Callable[[], torch.Tensor],
    data: TrialData,
    hp: HParams | Sequence[HParams],
    epochs: int,
    failures: Failures,
    phase: str,
    before_step: Callable[[int, int], None] | None = None,
    progress: Progress | None = None,
) -> None:
    """``epochs * STEPS_PER_EPOCH`` Adam steps on the weights of ``model``, at mixing ``weights()``;
    ``hp`` is every trial's hyperparameters or one set per trial (``bohb_das.optim``).

    ``before_step(step, total)`` runs first in every step: the search's architecture update.
    Warm-up ramps a trial's learning rate linearly over the first 10% of the steps.
    """
    optimizer = BlockOptimizer(list(model.parameters()), blocks_of(per_trial(hp, data.trials)), adam)
    total = epochs * STEPS_PER_EPOCH
    warmup = max(1, round(WEIGHT_WARMUP_FRACTION * total))
    model.train()
    for step in range(total):
        if before_step is not None:
            before_step(step, total)
        optimizer.set_lr(lambda h: h.weight_lr * min(1.0, (step + 1) / warmup) if h.weight_warmup else h.weight_lr)
        x, ctx = data.batch()
        losses = trial_losses(model, weights(), x, ctx, data.profile.weight_loss)
        failures.check(losses, f"{phase} weight step {step}")
        if failures.all_failed:
            return
        optimizer.zero_grad()
        losses.sum().backward()
        if data.profile.grad_clip > 0:
            clip_per_trial([p.grad for p in model.parameters() if p.grad is not None], data.profile.grad_clip)
        optimizer.step()
        if progress is not None and (step + 1) % STEPS_PER_EPOCH == 0:
            progress(phase, (step + 1) // STEPS_PER_EPOCH, epochs)


@torch.no_grad()
def evaluate(model: SearchSpace, weights: torch.Tensor, data: TrialData, batch_norm: str = "running") -> torch.Tensor:
    """(T,) mean PSNR on the fixed validation set; BatchNorm with its running statistics (evaluation
    mode) or, with ``batch_norm="batch"``, with each chunk's own (the running ones kept as they were)."""
    x_val, y_val = data.problem.validation_set()
    kept = [(b, b.clone()) for b in model.buffers()] if batch_norm == "batch" else []
    model.train(batch_norm == "batch")
    per_sample = []
    for start in range(0, len(x_val), EVAL_CHUNK):
        x, y = x_val[start : start + EVAL_CHUNK], y_val[start : start + EVAL_CHUNK]
        x, ctx = x.expand(data.trials, *x.shape), data.context(y.expand(data.trials, *y.shape))
        per_sample.append(data.problem.sample_psnr(model(ctx.u0, weights, ctx), x))
    for buffer, value in kept:
        buffer.copy_(value)
    model.train()
    return torch.cat(per_sample, -1).mean(-1)


def build(space: type[SearchSpace], candidates: Sequence[str], data: TrialData, width: int, stream: str) -> SearchSpace:
    """A freshly initialized network of ``space`` for the trials of ``data``, one independent
    initialization per trial (drawn on the CPU, so the same on every device), with the profile's
    residual form, step sizes and BatchNorm momentum (every module's that reads the profile)."""
    model: nn.Module = space(candidates, data.trials, width, TrialStreams(data.seeds, stream),
                             data.profile.skip_init, data.profile.skip_learnable, len(data.problem.signal_shape))
    for module in model.modules():
        if isinstance(module, ProfileReader):
            module.use_profile(data.profile)
    return model.to(device=data.device, dtype=data.dtype)


def architecture_size(space: type[SearchSpace], candidates: Sequence[str], genotype: Genotype, problem: Problem,
                      width: int) -> int:
    """The parameter entries of ``genotype``'s network (the architecture's size, not its supernet's):
    the entries its output depends on, found as those with a non-zero gradient of the output, in a
    random direction, on one batch of a fresh network (float64). BatchNorm normalizes with the
    batch's statistics here, so that every hidden unit is active on part of the batch (at
    initialization, with running statistics, deeper units see inputs of one sign and are dead on all
    of it); an operation, module, hidden channel or layer the architecture does not use gets none."""
    data = TrialData(problem, [0], "architecture-size", "cpu", torch.float64)
    model = build(space, candidates, data, width, "architecture-size")
    weights = model.fix([genotype])
    _, ctx = data.batch()
    out = model(ctx.u0, weights, ctx)
    direction = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(0))
    parameters = list(model.parameters())
    gradients = torch.autograd.grad((out * direction).sum(), parameters, allow_unused=True)
    return sum(int((g != 0).sum()) for g in gradients if g is not None)
