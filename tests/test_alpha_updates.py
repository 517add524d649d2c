"""Second-order DARTS and the ZARTS zero-order updates (``bohb_das.updates``)."""

import pytest
import torch
from torch import nn

from bohb_das.operations import mixed as mixed_module
from bohb_das.problems import get_problem
from bohb_das.hparams import HParams
from bohb_das.operations import OP_SETS
from bohb_das.search import ArchitectureStep
from bohb_das.updates.second_order import unrolled_gradient
from bohb_das.search_spaces.sequential import SequentialSpace
from bohb_das.training import Failures, TrialData, build, trial_losses
from bohb_das.updates.zero_order import candidate_losses, gld_move, mgs_gradient, random_search_gradient

SEEDS = (3, 4)


def setup(update: str = "first_order", ops: str = "all", **hp) -> ArchitectureStep:
    data = TrialData(get_problem("blur"), SEEDS, "data", "cpu", torch.float64)
    model = build(SequentialSpace, OP_SETS[ops], data, 3, "init")
    alpha = nn.Parameter(0.3 * torch.randn(2, 10, len(OP_SETS[ops]), dtype=torch.float64))
    hp = HParams.from_mapping({"alpha_warmup": False, **hp})
    return ArchitectureStep(model, alpha, data, hp, Failures.none(2), update)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: t.detach().clone() for n, t in [*model.named_parameters(), *model.named_buffers()]}


def test_second_order_gradient_matches_exact_double_backward(monkeypatch):
    """The whole unrolled gradient, finite-difference Hessian-vector product included, against autograd
    through the unrolled step. The tiny supernet is made smooth (softplus for ReLU, plain PyTorch ops):
    with ReLU the alpha gradient jumps wherever a unit crosses its kink, and no finite difference
    converges to the almost-everywhere Hessian."""
    monkeypatch.setattr(mixed_module, "fused_available", lambda device: False)
    monkeypatch.setattr(torch, "relu", torch.nn.functional.softplus)
    step = setup("second_order", ops="good", weight_lr=0.05)
    estimate = unrolled_gradient(step)

    exact_step = setup("second_order", ops="good", weight_lr=0.05)  # the same seeds: the same batches
    model, alpha = exact_step.model, exact_step.alpha
    alpha.data.copy_(step.alpha.detach())
    x_train, ctx_train = exact_step.replicas(1)[0].batch()
    x_val, ctx_val = exact_step.data.batch()
    buffers = dict(model.named_buffers())

    profile = exact_step.data.profile  # the weight step's loss reduction, then the objective's and its scale

    def losses(values, x, ctx, reduction):
        parameters = {**values, **{n: b.clone() for n, b in buffers.items()}}
        return trial_losses(model, torch.softmax(alpha, -1), x, ctx, reduction, parameters)

    leaves = {n: p.detach().clone().requires_grad_() for n, p in model.named_parameters()}
    grads = torch.autograd.grad(losses(leaves, x_train, ctx_train, profile.weight_loss).sum(), list(leaves.values()),
                                create_graph=True)
    unrolled = {n: p - 0.05 * g for (n, p), g in zip(leaves.items(), grads)}
    (exact,) = torch.autograd.grad(profile.alpha_loss_scale * losses(unrolled, x_val, ctx_val, profile.alpha_loss).sum(), [alpha])
    detached = {n: p.detach() for n, p in unrolled.items()}
    (first,) = torch.autograd.grad(profile.alpha_loss_scale * losses(detached, x_val, ctx_val, profile.alpha_loss).sum(), [alpha])
    assert float((exact - first).abs().max()) > 1e-2 * float(exact.abs().max())  # the second-order term matters
    # central differences err by O(eps^2): measured 5e-5 of the largest entry, far below the term itself
    assert torch.allclose(estimate, exact, rtol=1e-3, atol=2e-4 * float(exact.abs().max()))


def test_unrolled_gradient_leaves_the_network_alone():
    step = setup("second_order", weight_lr=0.05)
    before = snapshot(step.model)
    second = unrolled_gradient(step)
    assert all(torch.equal(before[n], t) for n, t in snapshot(step.model).items())
    assert second.shape == step.alpha.shape and bool(torch.isfinite(second).all())
    assert not torch.allclose(second, torch.zeros_like(second))


def test_each_candidate_trains_its_own_copy_of_the_weights():
    step = setup(zo_inner_steps=2, weight_lr=0.01)
    before = snapshot(step.model)
    offsets = 0.5 * torch.randn(2, 3, 10, 4, dtype=torch.float64)
    losses, copies = candidate_losses(step, offsets)
    assert losses.shape == (2, 3) and bool(torch.isfinite(losses).all())
    assert all(torch.equal(before[n], t) for n, t in snapshot(step.model).items())  # the originals
    w1 = copies.mixed[0].w1.detach().view(2, 3, *before["mixed.0.w1"].shape[1:])
    start = before["mixed.0.w1"][:, None]
    assert bool(((w1 - start).abs().amax((2, 3)) > 0).all())  # every copy was trained
    assert not torch.allclose(w1[:, 0], w1[:, 1])  # trained at different alphas, so they differ


def test_copies_are_the_originals_without_inner_steps():
    step = setup(zo_inner_steps=0)
    _, copies = candidate_losses(step, torch.zeros(2, 2, 10, 4, dtype=torch.float64))
    originals = dict(step.model.named_parameters())
    for name, tensor in copies.named_parameters():
        assert torch.equal(tensor, originals[name].repeat_interleave(2, 0))


def true_gradient(step: ArchitectureStep) -> torch.Tensor:
    """The exact gradient on the batch the candidates are scored on (the replica streams start alike)."""
    fresh = setup(**dict(step.shared.settings), ops="good")
    fresh.alpha.data.copy_(step.alpha.detach())
    fresh.model.load_state_dict(step.model.state_dict())
    x, ctx = fresh.replicas(1)[0].batch()
    (gradient,) = torch.autograd.grad(fresh.objective(fresh.model, fresh.alpha, x, ctx).sum(), [fresh.alpha])
    return gradient


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1))


@pytest.mark.parametrize("rule, least", [(random_search_gradient, 0.7), (mgs_gradient, 0.6)])
def test_zero_order_estimates_point_along_the_gradient(rule, least):
    # 64 samples in 20 dimensions (10 edges x 2 ops): a cosine near 0.87 is expected for RS
    step = setup(ops="good", zo_inner_steps=0, zo_samples=64, zo_radius=1e-3)
    estimate = rule(step)
    assert bool((cosine(estimate, true_gradient(step)) > least).all())


def test_gld_moves_only_to_a_better_alpha():
    step = setup(ops="good", zo_inner_steps=0, zo_samples=6, zo_radius=0.5)
    start = step.alpha.detach().clone()
    fresh = setup(ops="good")
    fresh.model.load_state_dict(step.model.state_dict())
    x, ctx = fresh.replicas(1)[0].batch()
    gld_move(step)
    moved = step.alpha.detach()
    with torch.no_grad():
        before, after = fresh.objective(fresh.model, start, x, ctx), fresh.objective(fresh.model, moved, x, ctx)
    assert bool((after <= before).all()) and bool((after < before).any())
    distance = (moved - start).flatten(1).norm(dim=1)
    assert all(d == pytest.approx(0) or any(d == pytest.approx(0.5 / 2**k) for k in range(6)) for d in distance.tolist())
