"""GDAS: one-hot samples of Gumbel-softmax with straight-through gradients, the temperature annealed."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bohb_das.relaxations import RELAXATIONS, Relaxation
from bohb_das.rng import TrialStreams


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
