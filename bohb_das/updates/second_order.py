"""Second-order DARTS: the architecture gradient through one unrolled weight step.

DARTS (Liu et al., eq. 7) differentiates ``L_val(w', alpha)`` at ``w' = w - xi grad_w L_train(w, alpha)``:
``grad_alpha L_val(w', alpha) - xi * (d^2 L_train / d alpha d w) v`` with ``v = grad_w' L_val(w', alpha)``,
and takes the mixed second derivative times v as a central difference of ``grad_alpha L_train`` at
``w +- eps v``, ``eps = 0.01 / ||v||``. Here eps is per trial (the trials are independent problems,
so a trial's gradient does not depend on its batch), and xi is the weight learning rate.

The unrolled and perturbed weights are passed functionally, so the network's own parameters and
BatchNorm running statistics stay as they are; the training batch's random draws (the noise
operation, a Gumbel sample) are replayed, so that the three training losses are the same function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch

from bohb_das.optim import per_trial_norm, trial_values
from bohb_das.updates import UPDATES

if TYPE_CHECKING:
    from bohb_das.search import ArchitectureStep

FD_RADIUS = 0.01

Params = dict[str, torch.Tensor]


def _per_trial(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *[1] * (like.dim() - 1))


def mixed_hessian_vector(loss: Callable[[Params], torch.Tensor], params: Params, alpha: torch.Tensor,
                         vector: Params) -> torch.Tensor:
    """``(d^2 sum_t loss_t / d alpha d w) . vector`` by a central difference along ``vector``."""
    eps = FD_RADIUS / per_trial_norm(list(vector.values())).clamp_min(torch.finfo(alpha.dtype).tiny)

    def gradient(sign: float) -> torch.Tensor:
        shifted = {n: p + sign * _per_trial(eps, p) * vector[n] for n, p in params.items()}
        (grad,) = torch.autograd.grad(loss(shifted).sum(), [alpha], retain_graph=True)
        return grad

    return (gradient(1.0) - gradient(-1.0)) / (2 * _per_trial(eps, alpha))


@UPDATES.register("second_order")
def unrolled_gradient(step: "ArchitectureStep") -> torch.Tensor:
    """The second-order DARTS gradient of the validation objective with respect to alpha."""
    model, alpha = step.model, step.alpha
    xi = trial_values(step.blocks, lambda hp: hp.weight_lr, alpha)  # (T,): each trial's own weight step
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    train_data, _ = step.replicas(1)
    x_train, ctx_train = train_data.batch()
    data_state, noise_state = ctx_train.streams.state(), step.noise.state()

    def with_buffers(values: Params) -> Params:
        return {**values, **frozen, **{n: b.clone() for n, b in model.named_buffers()}}

    def train_loss(values: Params) -> torch.Tensor:
        ctx_train.streams.set_state(data_state)
        step.noise.set_state(noise_state)
        return step.objective(model, alpha, x_train, ctx_train, parameters=with_buffers(values),
                              reduction=step.data.profile.weight_loss)

    leaves = {n: p.clone().requires_grad_() for n, p in params.items()}
    weight_grads = torch.autograd.grad(train_loss(leaves).sum(), list(leaves.values()))
    unrolled = {n: (params[n] - _per_trial(xi, g) * g).requires_grad_() for n, g in zip(params, weight_grads)}
    x_val, ctx_val = step.data.batch()
    losses = step.objective(model, alpha, x_val, ctx_val, parameters=with_buffers(unrolled))
    step.check(losses)
    alpha_grad, *v = torch.autograd.grad(losses.sum(), [alpha, *unrolled.values()])
    after = step.noise.state()
    hvp = mixed_hessian_vector(train_loss, params, alpha, dict(zip(params, v)))
    step.noise.set_state(after)
    return alpha_grad - _per_trial(xi, hvp) * hvp
