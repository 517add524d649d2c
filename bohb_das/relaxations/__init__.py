"""Relaxations: how a search turns alpha (T, edges, candidates) into the supernet's mixing weights.

DARTS mixes with a softmax; ``entropy_weight`` adds CLEARER's 0/1 term, the mean entropy of the
edges' weights, which pushes each towards a vertex. The alternatives from the related work change
what the supernet sees:
- ``sparsemax``: the Euclidean projection onto the simplex, exactly zero for weak operations.
- ``sparsestmax`` (SSN / trilevel NAS): sparsemax with the extra constraint ``||w - u|| >= r`` around
  the simplex centre u; the radius r grows over the search to the distance of a vertex, where the
  only feasible points are the vertices, so the supernet ends up one-hot: the one-shot network *is*
  the architecture.
- ``sigmoid`` (FairDARTS): independent weights in (0, 1) with no competition between operations,
  plus a zero-one loss that pushes each towards 0 or 1 (weights are not on the simplex).
- ``gumbel`` (GDAS): a hard one-hot sample from Gumbel-softmax with straight-through gradients and a
  temperature annealed from ``gumbel_tau_max`` to ``gumbel_tau_min``.
- ``identity`` (the sparse supernet): alpha itself, unnormalised; the architecture is its support,
  every operation whose weight is not exactly zero (mixed paths), which the proximal ``hapg`` update
  makes sparse.

Every relaxation is monotone in alpha, so the argmax architecture is the argmax of alpha whatever the
relaxation; a relaxation names its architecture (``architecture``: the argmax by default). ``progress`` (0 at the first step, 1 at the end) drives the schedules; the one-shot
supernet is evaluated with the weights at progress 1 and without noise. Softmax is the base class
here; each other built-in is a module of this package, registered in ``RELAXATIONS`` as a user's
plugin module registers its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch

from bohb_das.registry import Registry
from bohb_das.rng import TrialStreams
from bohb_das.settings import SETTINGS, Settings, SettingsSource, setting

if TYPE_CHECKING:  # the spaces are independent of the relaxations; only the annotations name them
    from bohb_das.search_spaces import Genotype, SearchSpace


class Relaxation:
    """Base: softmax mixing weights and no penalty. Built from the batch's hyperparameters ``hp``,
    whose settings a relaxation reads with ``hp.of(ItsSettings)`` (``bohb_das.settings``); called
    as ``(alpha, progress, noise)``, where ``noise`` (one stream per trial) is None for the noiseless
    weights of the one-shot supernet."""

    on_simplex: ClassVar[bool] = True  # the weights of an edge sum to 1

    def __init__(self, hp: SettingsSource) -> None:
        self.hp = hp

    def __call__(self, alpha: torch.Tensor, progress: float = 1.0, noise: TrialStreams | None = None) -> torch.Tensor:
        return torch.softmax(alpha, -1)

    def penalty(self, alpha: torch.Tensor) -> torch.Tensor:
        """(T,) extra architecture loss."""
        return alpha.new_zeros(alpha.shape[0])

    def initial(self, alpha: torch.Tensor) -> torch.Tensor:
        """Where alpha starts, from the profile's draw around 0 (which softmax maps to uniform weights)."""
        return alpha

    def architecture(self, model: "SearchSpace", alpha: torch.Tensor) -> "list[Genotype]":
        """The genotype each trial's search ends with: the argmax of alpha on every edge."""
        return model.discretize(alpha)


#: Relaxations by name (``--relaxation``, the ``relaxation`` hyperparameter).
RELAXATIONS: Registry[type[Relaxation]] = Registry("relaxation")


@SETTINGS.register("softmax")
@dataclass(frozen=True)
class EntropySettings(Settings):
    entropy_weight: float = setting(0.0, "weight of the mean entropy of the edges' softmax weights (CLEARER: 0.01)", lowest=0)


@RELAXATIONS.register("softmax")
class Softmax(Relaxation):
    """DARTS' softmax, with CLEARER's 0/1 term of weight ``entropy_weight`` (none by default)."""

    def penalty(self, alpha: torch.Tensor) -> torch.Tensor:
        weight = self.hp.of(EntropySettings).entropy_weight
        if weight == 0:
            return super().penalty(alpha)
        return -weight * (torch.softmax(alpha, -1) * torch.log_softmax(alpha, -1)).sum(-1).mean(-1)
