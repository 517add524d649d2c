"""The paper's operations (section 4): learnable gradient step, net, and the harmful roll and noise;
``zero`` drops an edge of the cell space. The operation sets ``good`` and ``all`` (paper 5.2)."""

from __future__ import annotations

from typing import Any

import torch

from bohb_das.operations import OP_SETS, OPERATIONS, Context, Operation


def _gradient_step(u: torch.Tensor, gradient: Any, tau: Any, ctx: Context) -> torch.Tensor:
    return u - tau * gradient


def _noisy_gradient_step(u: torch.Tensor, gradient: Any, tau: Any, ctx: Context) -> torch.Tensor:
    """The profile's ``noise_op_form``: a gradient step plus noise, or the noise replacing the step."""
    step = u - tau * gradient if ctx.profile.noise_op_form == "step" else u
    return step + ctx.noise(u)


def _roll(u: torch.Tensor, gradient: Any, tau: Any, ctx: Context) -> torch.Tensor:
    """A circular shift by the profile's ``roll_shift`` along ``ctx.roll_dims`` (never the trial dimension)."""
    return torch.roll(u, (ctx.profile.roll_shift,) * len(ctx.roll_dims), dims=ctx.roll_dims)


for _op in (
    Operation("learnable_gd", _gradient_step, learned_net=True, step=True),
    Operation("net", None, learned_net=True, step=False),
    Operation("roll", _roll, learned_net=False, step=False, harmful=True),
    Operation("noise", _noisy_gradient_step, learned_net=False, step=True, harmful=True, random=True),
    Operation("zero", None, learned_net=False, step=False),
):
    OPERATIONS.register(_op.name)(_op)
OP_SETS.register("good")(("learnable_gd", "net"))
OP_SETS.register("all")(("learnable_gd", "net", "roll", "noise"))
