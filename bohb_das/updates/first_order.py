"""DAS (first-order DARTS): the gradient of the validation objective at the current weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from bohb_das.updates import UPDATES

if TYPE_CHECKING:
    from bohb_das.search import ArchitectureStep


@UPDATES.register("first_order")
def first_order(step: "ArchitectureStep") -> torch.Tensor:
    """Taken with ``autograd.grad`` with respect to alpha alone, which skips the weight gradients."""
    x, ctx = step.data.batch()
    losses = step.objective(step.model, step.alpha, x, ctx)
    step.check(losses)
    (gradient,) = torch.autograd.grad(losses.sum(), [step.alpha])
    return gradient
