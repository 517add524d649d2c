"""FairDARTS: independent sigmoid weights, pushed towards 0 or 1 by a zero-one loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bohb_das.relaxations import RELAXATIONS, Relaxation
from bohb_das.rng import TrialStreams
from bohb_das.settings import SETTINGS, Settings, setting


@SETTINGS.register("sigmoid")
@dataclass(frozen=True)
class ZeroOneSettings(Settings):
    zero_one_weight: float = setting(10.0, "weight of the zero-one loss", lowest=0)


@RELAXATIONS.register("sigmoid")
class Sigmoid(Relaxation):
    """FairDARTS, with its zero-one loss of weight ``zero_one_weight``."""

    on_simplex = False

    def __call__(self, alpha: torch.Tensor, progress: float = 1.0, noise: TrialStreams | None = None) -> torch.Tensor:
        return torch.sigmoid(alpha)

    def penalty(self, alpha: torch.Tensor) -> torch.Tensor:
        return -self.hp.of(ZeroOneSettings).zero_one_weight * ((torch.sigmoid(alpha) - 0.5) ** 2).mean((1, 2))
