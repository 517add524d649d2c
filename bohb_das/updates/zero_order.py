"""ZARTS: zero-order architecture updates (Wang et al., "ZARTS: On Zero-order Optimization for NAS").

ZARTS estimates the descent direction of the bilevel objective ``L_val(w*(alpha), alpha)`` from
values alone, with ``w*(alpha)`` approximated by ``zo_inner_steps`` weight steps (Adam at the weight
learning rate) from the current weights. Every perturbed alpha gets its OWN copy of the weights,
trained for those steps at that alpha: one shared copy would measure each perturbation against
weights trained for another architecture (a public implementation trains the wrong model here).
The copies of a trial see the same batches and the same noise (common random numbers), so their
losses differ through alpha only. All T trials x C candidates train as one network of T*C trials.

- ``zarts_rs``: antithetic random search, ``g = mean_i (L(a + mu u_i) - L(a - mu u_i)) / (2 mu) u_i``
  with ``u_i ~ N(0, I)``: ``zo_samples`` directions, 2 * zo_samples candidates. g goes to the alpha
  optimizer like a gradient.
- ``zarts_mgs``: ``zo_samples`` perturbations ``u_i ~ N(0, mu^2 I)`` weighted by their likelihood
  ``q = softmax(-standardized L_i)``; the step direction is the centred weighted mean
  ``sum_i (q_i - 1/n) u_i`` (zero when all losses tie), handed to the optimizer as ``-direction / mu^2``
  (for small mu that is the gradient divided by the losses' spread).
- ``zarts_gld``: gradient-less descent: the current alpha and ``zo_samples`` candidates
  ``a + r_k u_k`` on radii ``r_k = mu / 2^k`` (u_k uniform on the unit sphere); alpha moves to the best
  candidate if it beats the current one. GLD does not use the alpha optimizer, rate or decay.

mu is ``zo_radius``. A candidate whose loss is not finite counts as infinitely bad (in RS its
direction is skipped); it never fails the trial, whose own weights are untouched by all of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from bohb_das.optim import BlockOptimizer, adam
from bohb_das.search_spaces import SearchSpace
from bohb_das.training import trial_losses
from bohb_das.settings import SETTINGS, Settings, setting
from bohb_das.updates import UPDATES

if TYPE_CHECKING:
    from bohb_das.search import ArchitectureStep


@SETTINGS.register("zarts")
@dataclass(frozen=True)
class ZeroOrderSettings(Settings):
    zo_samples: int = setting(4, "directions (rs), samples (mgs), radii (gld)")
    zo_radius: float = setting(0.1, "perturbation scale mu", positive=True)
    zo_inner_steps: int = setting(2, "weight steps per candidate copy", lowest=0)


def candidate_losses(step: "ArchitectureStep", offsets: torch.Tensor) -> tuple[torch.Tensor, SearchSpace]:
    """(T, C) objective at ``alpha + offsets[:, c]`` (offsets: (T, C, edges, K)), each candidate with
    its own copy of the weights trained for ``zo_inner_steps`` steps; also returns the copies."""
    trials, count = offsets.shape[:2]
    inner_steps = step.shared.of(ZeroOrderSettings).zo_inner_steps
    copies = step.model.replicate(count)
    alphas = (step.alpha.detach()[:, None] + offsets).flatten(0, 1)
    data, noise = step.replicas(count)
    trainable = [p for p in copies.parameters() if p.requires_grad]
    copies.train()
    if trainable and inner_steps:
        optimizer = BlockOptimizer(trainable, step.blocks, adam, copies=count)
        for _ in range(inner_steps):
            x, ctx = data.batch()
            weights = step.relaxation(alphas, step.progress, noise).detach()
            losses = trial_losses(copies, weights, x, ctx, data.profile.weight_loss)
            optimizer.zero_grad()
            losses.sum().backward()  # a diverged copy only spoils its own gradients
            optimizer.step()
    copies.train(data.profile.alpha_bn == "batch")  # the objective with the profile's alpha-step BatchNorm
    with torch.no_grad():
        x, ctx = data.batch()
        losses = step.objective(copies, alphas, x, ctx, noise)
    return losses.view(trials, count), copies


def _directions(step: "ArchitectureStep", count: int) -> torch.Tensor:
    """(T, count, edges, K) standard normal directions from each trial's own stream."""
    return step.directions.randn(count, *step.alpha.shape[1:], dtype=step.alpha.dtype)


@UPDATES.register("zarts_rs")
def random_search_gradient(step: "ArchitectureStep") -> torch.Tensor:
    zo = step.shared.of(ZeroOrderSettings)
    n, mu = zo.zo_samples, zo.zo_radius
    u = _directions(step, n)
    losses, _ = candidate_losses(step, torch.cat([mu * u, -mu * u], 1))
    slopes = (losses[:, :n] - losses[:, n:]) / (2 * mu)
    slopes = torch.where(torch.isfinite(slopes), slopes, torch.zeros_like(slopes))
    return (slopes[..., None, None] * u).mean(1)


@UPDATES.register("zarts_mgs")
def mgs_gradient(step: "ArchitectureStep") -> torch.Tensor:
    zo = step.shared.of(ZeroOrderSettings)
    n, mu = zo.zo_samples, zo.zo_radius
    u = mu * _directions(step, n)
    losses, _ = candidate_losses(step, u)
    finite = torch.isfinite(losses)
    values = torch.where(finite, losses, torch.nan)
    centred = values - values.nanmean(1, keepdim=True)
    spread = centred.pow(2).nanmean(1, keepdim=True).sqrt().clamp_min(torch.finfo(losses.dtype).eps)
    logits = torch.where(finite, -centred / spread, -torch.inf)
    q = torch.nan_to_num(torch.softmax(logits, 1), nan=0.0)  # a trial with no finite candidate: no step
    base = finite.to(losses.dtype) / finite.sum(1, keepdim=True).clamp_min(1)
    direction = ((q - base)[..., None, None] * u).sum(1)
    return -direction / mu**2


@UPDATES.register("zarts_gld")
def gld_move(step: "ArchitectureStep") -> None:
    zo = step.shared.of(ZeroOrderSettings)
    n, mu = zo.zo_samples, zo.zo_radius
    u = _directions(step, n)
    u = u / u.flatten(2).norm(dim=2)[..., None, None]
    radii = mu * 0.5 ** torch.arange(n, dtype=u.dtype, device=u.device)
    offsets = torch.cat([torch.zeros_like(u[:, :1]), radii[None, :, None, None] * u], 1)
    losses, _ = candidate_losses(step, offsets)
    best = torch.where(torch.isfinite(losses), losses, torch.inf).argmin(1)  # ties keep the current alpha
    with torch.no_grad():
        step.alpha += offsets[torch.arange(len(best), device=best.device), best]
