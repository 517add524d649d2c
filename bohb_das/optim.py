"""Optimizers for a batch whose trials may differ in their hyperparameters.

Every parameter is stacked along a leading trial dimension. Trials with equal hyperparameters form
one contiguous block of rows (``blocks_of``), and each block gets its own stock torch optimizer over
detached views of its rows. A block's update is therefore torch's own update, bit for bit, and a
batch with one block computes exactly what one optimizer over the whole tensors computes: the
configurations of a BOHB rung train together in one model (as HFTA fuses a Hyperband rung) and each
gets the numbers it would get alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams

#: The fields that must agree within a batch: they change the shape or the form of the computation
#: (the relaxation, and the plugin settings: a relaxation's, the ZARTS updates').
SHARED_FIELDS = ("relaxation", "settings")


def shared_settings(hp: HParams) -> tuple:
    """The values of ``SHARED_FIELDS``: trials train in one batch only where these are equal."""
    return tuple(getattr(hp, name) for name in SHARED_FIELDS)


@dataclass(frozen=True)
class Block:
    """Trials ``rows`` of a batch share ``hparams``."""

    hparams: HParams
    rows: slice


def per_trial(hparams: HParams | Sequence[HParams], trials: int) -> list[HParams]:
    """One HParams per trial: ``hparams`` for all of them, or the given sequence of ``trials``."""
    if isinstance(hparams, HParams):
        return [hparams] * trials
    if len(hparams) != trials:
        raise ConfigError(f"{len(hparams)} hyperparameter sets for {trials} trials")
    return list(hparams)


def blocks_of(hparams: Sequence[HParams]) -> list[Block]:
    """The runs of equal hyperparameters, in order; the settings of ``SHARED_FIELDS`` must agree and
    equal hyperparameters must be contiguous (``grouped_order`` arranges that)."""
    blocks: list[Block] = []
    for t, hp in enumerate(hparams):
        if blocks and blocks[-1].hparams == hp:
            blocks[-1] = Block(hp, slice(blocks[-1].rows.start, t + 1))
            continue
        if any(b.hparams == hp for b in blocks):
            raise ConfigError("trials with equal hyperparameters must be contiguous in a batch")
        blocks.append(Block(hp, slice(t, t + 1)))
    for name in SHARED_FIELDS:
        values = {getattr(b.hparams, name) for b in blocks}
        if len(values) > 1:
            raise ConfigError(f"the trials of one batch must agree on {name}, got {sorted(values)}")
    return blocks


def grouped_order(hparams: Sequence[HParams]) -> list[int]:
    """A permutation of the trials that makes equal hyperparameters contiguous (first-seen order)."""
    first: dict[HParams, int] = {}
    for t, hp in enumerate(hparams):
        first.setdefault(hp, t)
    return sorted(range(len(hparams)), key=lambda t: (first[hparams[t]], t))


class BlockOptimizer:
    """One torch optimizer per block over its rows of ``params`` (``copies`` rows per trial, trial-major,
    as ``SearchSpace.replicate`` lays them out); ``make(hparams, views)`` builds a block's optimizer."""

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        blocks: Sequence[Block],
        make: Callable[[HParams, list[torch.Tensor]], torch.optim.Optimizer],
        copies: int = 1,
    ) -> None:
        self.params = list(params)
        self.blocks = list(blocks)
        self.rows = [slice(b.rows.start * copies, b.rows.stop * copies) for b in self.blocks]
        self.views = [[p.detach()[rows] for p in self.params] for rows in self.rows]
        self.optimizers = [make(b.hparams, views) for b, views in zip(self.blocks, self.views)]

    def set_lr(self, lr: Callable[[HParams], float]) -> None:
        """Every block's learning rate from its hyperparameters (warm-up, schedules)."""
        for block, optimizer in zip(self.blocks, self.optimizers):
            for group in optimizer.param_groups:
                group["lr"] = lr(block.hparams)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, active: Callable[[HParams], bool] = lambda hp: True) -> None:
        """A step of every block whose hyperparameters are ``active`` (an alpha warm-up skips it)."""
        for block, rows, views, optimizer in zip(self.blocks, self.rows, self.views, self.optimizers):
            if not active(block.hparams):
                continue
            for view, p in zip(views, self.params):
                view.grad = None if p.grad is None else p.grad[rows]
            optimizer.step()


def adam(hp: HParams, views: list[torch.Tensor]) -> torch.optim.Optimizer:
    """The weights' optimizer (paper: Adam at the weight learning rate and decay). ``fused``: torch's
    one-kernel Adam, the same update to rounding and measured 3-5 % of a search step faster than
    ``foreach``."""
    return torch.optim.Adam(views, lr=hp.weight_lr, weight_decay=hp.weight_decay, fused=True)


def alpha_optimizer(hp: HParams, views: list[torch.Tensor]) -> torch.optim.Optimizer:
    """Alpha's optimizer: Adam or plain gradient descent, at the alpha learning rate and decay."""
    if hp.alpha_optimizer == "adam":
        return torch.optim.Adam(views, lr=hp.alpha_lr, weight_decay=hp.alpha_decay, fused=True)
    return torch.optim.SGD(views, lr=hp.alpha_lr, weight_decay=hp.alpha_decay)


def trial_values(blocks: Sequence[Block], value: Callable[[HParams], float], like: torch.Tensor) -> torch.Tensor:
    """(T,) ``value`` of each trial's hyperparameters, in ``like``'s dtype and device."""
    values = [value(b.hparams) for b in blocks for _ in range(b.rows.start, b.rows.stop)]
    return torch.tensor(values, dtype=like.dtype, device=like.device)


def per_trial_norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """(T,) the Euclidean norm over all tensors of each trial's slice (leading dimension)."""
    return torch.sqrt(sum((t.reshape(len(t), -1) ** 2).sum(1) for t in tensors))


@torch.no_grad()
def clip_per_trial(gradients: Sequence[torch.Tensor], max_norm: float) -> None:
    """Scales each trial's gradients (rows of every tensor) to a norm of at most ``max_norm``, as
    ``torch.nn.utils.clip_grad_norm_`` does for one network: one global norm would couple the trials."""
    scale = (max_norm / (per_trial_norm(gradients) + 1e-6)).clamp(max=1.0)
    for gradient in gradients:
        gradient.mul_(scale.view(-1, *[1] * (gradient.dim() - 1)))
