"""The sparse supernet's architecture weights (Wu et al., "Neural Architecture Search as Sparse
Supernet"): unnormalised, alpha itself, with the architecture the support of alpha."""

from __future__ import annotations

import torch

from bohb_das.relaxations import RELAXATIONS, Relaxation
from bohb_das.rng import TrialStreams


@RELAXATIONS.register("identity")
class Identity(Relaxation):
    """Weights are alpha, started at ``1 / K`` plus the profile's draw so that the first supernet is
    DAS's (softmax's uniform weights); no operation competes with another, and only exact zeros
    (``hapg``'s proximal step) remove one. Under a plain gradient update every operation stays and the
    architecture is the whole supernet."""

    on_simplex = False

    def __call__(self, alpha: torch.Tensor, progress: float = 1.0, noise: TrialStreams | None = None) -> torch.Tensor:
        return alpha

    def initial(self, alpha: torch.Tensor) -> torch.Tensor:
        return alpha + 1 / alpha.shape[-1]

    def kept(self, alpha: torch.Tensor) -> torch.Tensor:
        """The support of alpha."""
        return alpha != 0
