"""Relaxations: how a search turns alpha (T, rows, options) into the supernet's mixing weights.

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
relaxation; a relaxation names what its architecture keeps (``kept``: the argmax by default). An
architecture of several choices (``bohb_das.search_spaces.Choice``) relaxes each choice's block of
alpha on its own (``ArchitectureRelaxation``). ``progress`` (0 at the first step, 1 at the end)
drives the schedules; the one-shot supernet is evaluated with the weights at progress 1 and without
noise. Softmax is the base class
here; each other built-in is a module of this package, registered in ``RELAXATIONS`` as a user's
plugin module registers its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import torch
import torch.nn.functional as F

from bohb_das.registry import Registry
from bohb_das.rng import TrialStreams
from bohb_das.settings import SETTINGS, Settings, SettingsSource, setting


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

    def kept(self, alpha: torch.Tensor) -> torch.Tensor:
        """(T, rows, options) booleans: what each trial's architecture keeps, the argmax of alpha on
        every row."""
        return F.one_hot(alpha.argmax(-1), alpha.shape[-1]).bool()


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


class ArchitectureRelaxation:
    """The relaxation of a whole architecture: every choice's block of alpha (``rows``, its first
    ``options`` columns: ``SearchSpace.blocks``) through that choice's relaxation, zeros beyond a
    block's options. With one choice filling alpha it is that choice's relaxation itself."""

    def __init__(self, parts: Sequence[tuple[slice, int, Relaxation]]) -> None:
        self.parts = list(parts)

    def _whole(self, alpha: torch.Tensor) -> Relaxation | None:
        """The one relaxation of all of alpha, where there is one."""
        rows, options, relaxation = self.parts[0]
        whole = len(self.parts) == 1 and options == alpha.shape[-1] and rows.stop == alpha.shape[1]
        return relaxation if whole else None

    def __call__(self, alpha: torch.Tensor, progress: float = 1.0, noise: TrialStreams | None = None) -> torch.Tensor:
        whole = self._whole(alpha)
        if whole is not None:
            return whole(alpha, progress, noise)
        width = alpha.shape[-1]
        return torch.cat([F.pad(relax(alpha[:, rows, :k], progress, noise), (0, width - k)) for rows, k, relax in self.parts], 1)

    def penalty(self, alpha: torch.Tensor) -> torch.Tensor:
        """(T,) every choice's penalty, summed."""
        whole = self._whole(alpha)
        if whole is not None:
            return whole.penalty(alpha)
        return sum(relax.penalty(alpha[:, rows, :k]) for rows, k, relax in self.parts)

    def initial(self, alpha: torch.Tensor) -> torch.Tensor:
        """Each block where its relaxation starts it; zeros beyond a block's options."""
        whole = self._whole(alpha)
        if whole is not None:
            return whole.initial(alpha)
        out = torch.zeros_like(alpha)
        for rows, k, relax in self.parts:
            out[:, rows, :k] = relax.initial(alpha[:, rows, :k])
        return out

    def kept(self, alpha: torch.Tensor) -> torch.Tensor:
        """(T, rows, options) booleans: every block's own ``kept``, nothing beyond its options."""
        whole = self._whole(alpha)
        if whole is not None:
            return whole.kept(alpha)
        out = torch.zeros_like(alpha, dtype=torch.bool)
        for rows, k, relax in self.parts:
            out[:, rows, :k] = relax.kept(alpha[:, rows, :k])
        return out
