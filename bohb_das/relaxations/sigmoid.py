"""FairDARTS: independent sigmoid weights, pushed towards 0 or 1 by a zero-one loss."""

from __future__ import annotations

import torch

from bohb_das.relaxations import RELAXATIONS, Relaxation
from bohb_das.rng import TrialStreams


@RELAXATIONS.register("sigmoid")
class Sigmoid(Relaxation):
    """FairDARTS, with its zero-one loss of weight ``zero_one_weight``."""

    on_simplex = False

    def __call__(self, alpha: torch.Tensor, progress: float = 1.0, noise: TrialStreams | None = None) -> torch.Tensor:
        return torch.sigmoid(alpha)

    def penalty(self, alpha: torch.Tensor) -> torch.Tensor:
        return -self.hp.zero_one_weight * ((torch.sigmoid(alpha) - 0.5) ** 2).mean((1, 2))
