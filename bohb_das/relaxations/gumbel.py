"""GDAS: one-hot samples of Gumbel-softmax with straight-through gradients, the temperature annealed."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bohb_das.errors import ConfigError
from bohb_das.relaxations import RELAXATIONS, Relaxation
from bohb_das.rng import TrialStreams
from bohb_das.settings import SETTINGS, Settings, setting


@SETTINGS.register("gumbel")
@dataclass(frozen=True)
class GumbelSettings(Settings):
    gumbel_tau_max: float = setting(10.0, "temperature at the start", positive=True)
    gumbel_tau_min: float = setting(0.1, "temperature at the end", positive=True)

    def check(self) -> None:
        if self.gumbel_tau_min > self.gumbel_tau_max:
            raise ConfigError(f"gumbel_tau_min must be <= gumbel_tau_max, got {self.gumbel_tau_min!r} > {self.gumbel_tau_max!r}")


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
        s = self.hp.of(GumbelSettings)
        return s.gumbel_tau_max + (s.gumbel_tau_min - s.gumbel_tau_max) * progress
