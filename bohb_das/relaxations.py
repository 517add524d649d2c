"""Relaxations: how a search turns alpha (T, edges, candidates) into the supernet's mixing weights.

DARTS mixes with a softmax. The alternatives from the related work change what the supernet sees:
- ``sparsemax``: the Euclidean projection onto the simplex, exactly zero for weak operations.
- ``sparsestmax`` (SSN / trilevel NAS): sparsemax with the extra constraint ``||w - u|| >= r`` around
  the simplex centre u; the radius r grows over the search to the distance of a vertex, where the
  only feasible points are the vertices, so the supernet ends up one-hot: the one-shot network *is*
  the architecture.
- ``sigmoid`` (FairDARTS): independent weights in (0, 1) with no competition between operations,
  plus a zero-one loss that pushes each towards 0 or 1 (weights are not on the simplex).
- ``gumbel`` (GDAS): a hard one-hot sample from Gumbel-softmax with straight-through gradients and a
  temperature annealed from ``gumbel_tau_max`` to ``gumbel_tau_min``.

Every relaxation is monotone in alpha, so the argmax architecture is the argmax of alpha whatever the
relaxation. ``progress`` (0 at the first step, 1 at the end) drives the schedules; the one-shot
supernet is evaluated with the weights at progress 1 and without noise. A new relaxation is a
``Relaxation`` subclass registered in ``RELAXATIONS``, here or in a user's plugin module.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F

from bohb_das.registry import Registry
from bohb_das.rng import TrialStreams

if TYPE_CHECKING:
    from bohb_das.hparams import HParams

def sparsemax(z: torch.Tensor) -> torch.Tensor:
    """The Euclidean projection of each row of ``z`` (last dimension) onto the probability simplex."""
    ordered, _ = z.sort(-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cumulative = ordered.cumsum(-1)
    support = (1 + k * ordered > cumulative).sum(-1, keepdim=True)
    threshold = (cumulative.gather(-1, support - 1) - 1) / support.to(z.dtype)
    return torch.clamp(z - threshold, min=0)


def sparsestmax(z: torch.Tensor, radius: float | torch.Tensor) -> torch.Tensor:
    """The projection onto ``{w in simplex : ||w - u|| >= radius}``, u the simplex centre (SSN).

    Sparsemax first; a row inside the ball is pushed radially out from the centre of the face it
    lies on (on that face the ball is a ball around the face centre, of radius
    ``sqrt(r^2 - ||centre - u||^2)``); coordinates that turn negative leave the face, and the push is
    repeated on the smaller face, at most K times. At ``radius = sqrt(1 - 1/K)`` (a vertex's distance)
    every row ends one-hot.
    """
    k = z.shape[-1]
    radius = torch.as_tensor(radius, dtype=z.dtype, device=z.device)
    w = sparsemax(z)
    inside = ((w - 1 / k) ** 2).sum(-1, keepdim=True) < radius**2
    support = w > 0
    for _ in range(k):
        size = support.sum(-1, keepdim=True).to(z.dtype)
        centre = support.to(z.dtype) / size
        face_radius = torch.sqrt(torch.clamp(radius**2 - ((centre - 1 / k) ** 2).sum(-1, keepdim=True), min=0))
        offset = w - centre
        distance = offset.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(z.dtype).eps)
        w = torch.where(inside, centre + face_radius * offset / distance, w)
        support = support & (w > 0)
        kept = torch.where(support, w, torch.zeros_like(w))
        size = support.sum(-1, keepdim=True).clamp_min(1).to(z.dtype)
        w = torch.where(support, kept + (1 - kept.sum(-1, keepdim=True)) / size, kept)  # back onto the face
    return w


def max_radius(candidates: int) -> float:
    """The distance from the simplex centre to a vertex: sparsestmax's one-hot radius."""
    return math.sqrt(1 - 1 / candidates)


class Relaxation:
    """Base: softmax mixing weights and no penalty. Built from the batch's hyperparameters ``hp``,
    whose settings a relaxation reads (``HParams`` holds their defaults, validated in one place);
    called as ``(alpha, progress, noise)``, where ``noise`` (one stream per trial) is None for the
    noiseless weights of the one-shot supernet."""

    on_simplex: ClassVar[bool] = True  # the weights of an edge sum to 1

    def __init__(self, hp: "HParams") -> None:
        self.hp = hp

    def __call__(self, alpha: torch.Tensor, progress: float = 1.0, noise: TrialStreams | None = None) -> torch.Tensor:
        return torch.softmax(alpha, -1)

    def penalty(self, alpha: torch.Tensor) -> torch.Tensor:
        """(T,) extra architecture loss."""
        return alpha.new_zeros(alpha.shape[0])


#: Relaxations by name (``--relaxation``, the ``relaxation`` hyperparameter).
RELAXATIONS: Registry[type[Relaxation]] = Registry("relaxation")
RELAXATIONS.register("softmax")(Relaxation)


@RELAXATIONS.register("sparsemax")
class Sparsemax(Relaxation):
    def __call__(self, alpha: torch.Tensor, progress: float = 1.0, noise: TrialStreams | None = None) -> torch.Tensor:
        return sparsemax(alpha)


@RELAXATIONS.register("sparsestmax")
class Sparsestmax(Relaxation):
    """The radius grows linearly to one-hot over the first ``sparsestmax_ramp`` of the search."""

    def __call__(self, alpha: torch.Tensor, progress: float = 1.0, noise: TrialStreams | None = None) -> torch.Tensor:
        fraction = min(1.0, progress / self.hp.sparsestmax_ramp)
        return sparsestmax(alpha, fraction * max_radius(alpha.shape[-1]))


@RELAXATIONS.register("sigmoid")
class Sigmoid(Relaxation):
    """FairDARTS, with its zero-one loss of weight ``zero_one_weight``."""

    on_simplex = False

    def __call__(self, alpha: torch.Tensor, progress: float = 1.0, noise: TrialStreams | None = None) -> torch.Tensor:
        return torch.sigmoid(alpha)

    def penalty(self, alpha: torch.Tensor) -> torch.Tensor:
        return -self.hp.zero_one_weight * ((torch.sigmoid(alpha) - 0.5) ** 2).mean((1, 2))


@RELAXATIONS.register("gumbel")
class Gumbel(Relaxation):
    """GDAS: hard samples with straight-through gradients; without noise, the argmax."""

    def __call__(self, alpha: torch.Tensor, progress: float = 1.0, noise: TrialStreams | None = None) -> torch.Tensor:
        if noise is None:
            return F.one_hot(alpha.argmax(-1), alpha.shape[-1]).to(alpha.dtype)
        uniform = noise.rand(*alpha.shape[1:], dtype=alpha.dtype).clamp(1e-10, 1 - 1e-10)
        soft = torch.softmax((alpha - torch.log(-torch.log(uniform))) / self.temperature(progress), -1)
        hard = F.one_hot(soft.argmax(-1), alpha.shape[-1]).to(alpha.dtype)
        return hard - soft.detach() + soft  # straight-through: one-hot forward, soft gradient

    def temperature(self, progress: float) -> float:
        """Linear from ``gumbel_tau_max`` to ``gumbel_tau_min`` (GDAS)."""
        return self.hp.gumbel_tau_max + (self.hp.gumbel_tau_min - self.hp.gumbel_tau_max) * progress
