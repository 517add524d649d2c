"""The sparse supernet's architecture update (Wu et al., "Neural Architecture Search as Sparse
Supernet", AAAI 2021): hierarchical accelerated proximal gradient (HAPG) on the sparse group lasso.

The weights A are unnormalised (the ``identity`` relaxation) and penalised by
``lambda [(1 - a) sum_g sqrt(p_g) ||A_g|| + a ||A||_1]``, a group ``g`` being the operations of all
edges that enter one node (``SearchSpace.groups``; ``p_g`` its size). One step, per trial:

1. extrapolate: ``Y = A_k + (k - 1) / (k + 2) (A_k - A_{k-1})``, ``k`` the trial's steps so far + 1;
2. a step of the trial's alpha optimizer from Y along the gradient of the validation objective at Y
   (plain gradient descent, the paper's HAPG, with ``alpha_optimizer: gd``; Adam's direction with
   ``adam``: the Adam-HAPG variant, so the one Table-7 hyperparameter picks between the two);
3. the proximal map of the penalty at that step's learning rate: soft-thresholding (the l1 part),
   then shrinking every group towards zero (the group part; together the exact proximal map of the
   sparse group lasso). Whole operations and whole nodes reach exact zeros, and the architecture is
   the support of A (mixed paths).

``lambda`` grows geometrically over the search to ``lasso_growth`` times its start, so that the
supernet trains before it is pruned (1: constant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch

from bohb_das.errors import ConfigError
from bohb_das.settings import SETTINGS, Settings, setting
from bohb_das.updates import UPDATES

if TYPE_CHECKING:
    from bohb_das.search import ArchitectureStep


@SETTINGS.register("hapg")
@dataclass(frozen=True)
class SparseGroupLassoSettings(Settings):
    lasso_lambda: float = setting(1.0, "strength lambda of the sparse group lasso at the start of the search", lowest=0)
    lasso_mix: float = setting(0.5, "a: the l1 share of the penalty (the rest is the group lasso), in [0, 1]", lowest=0)
    lasso_growth: float = setting(1.0, "lambda's factor from the start to the end of the search (geometric)", positive=True)

    def check(self) -> None:
        if self.lasso_mix > 1:
            raise ConfigError(f"lasso_mix is a share in [0, 1], got {self.lasso_mix!r}")


def sparse_group_prox(alpha: torch.Tensor, thresholds: torch.Tensor, mix: float,
                      groups: Sequence[Sequence[int]], sizes: Sequence[int] | None = None) -> torch.Tensor:
    """The proximal map of ``thresholds[t] * [(1 - mix) sum_g sqrt(p_g) ||A_g|| + mix ||A||_1]`` of
    each trial's alpha (T, rows, K); ``groups`` partition the rows, ``sizes`` are their p_g (default:
    every entry of their rows; a space of several choices has fewer options on some rows than K)."""
    t = thresholds.view(-1, 1, 1)
    out = torch.sign(alpha) * torch.clamp(alpha.abs() - mix * t, min=0)
    for g, group in enumerate(groups):
        rows = list(group)
        block = out[:, rows]
        norm = block.flatten(1).norm(dim=1)
        size = math.sqrt(block[0].numel() if sizes is None else sizes[g])
        shrink = torch.clamp(1 - (1 - mix) * size * thresholds / norm.clamp_min(torch.finfo(alpha.dtype).tiny), min=0)
        out[:, rows] = block * shrink.view(-1, 1, 1)
    return out


@UPDATES.register("hapg")
def hapg(step: "ArchitectureStep") -> None:
    """Moves alpha itself (the optimizer's step sits between the extrapolation and the proximal map);
    a trial in alpha warm-up takes no step and keeps its momentum at rest."""
    lasso = step.shared.of(SparseGroupLassoSettings)
    alpha = step.alpha
    if "hapg" not in step.state:
        step.state["hapg"] = (alpha.detach().clone(), torch.zeros(len(alpha), dtype=alpha.dtype, device=alpha.device))
    previous, taken = step.state["hapg"]
    with torch.no_grad():
        current = alpha.detach().clone()
        alpha.add_((taken / (taken + 3)).view(-1, 1, 1) * (current - previous))
        previous.copy_(current)
    x, ctx = step.data.batch()
    losses = step.objective(step.model, alpha, x, ctx)
    step.check(losses)
    (gradient,) = torch.autograd.grad(losses.sum(), [alpha])
    step.apply(gradient)
    strength = lasso.lasso_lambda * lasso.lasso_growth**step.progress
    with torch.no_grad():
        options = [k for rows, k in step.model.blocks() for _ in range(rows.start, rows.stop)]
        groups = step.model.groups()
        sizes = [sum(options[r] for r in group) for group in groups]
        alpha.copy_(sparse_group_prox(alpha.detach(), strength * step.rates(), lasso.lasso_mix, groups, sizes))
        taken += torch.tensor(step.watched, dtype=taken.dtype, device=taken.device)
