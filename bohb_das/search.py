"""Differentiable architecture search (DAS / DARTS), batched over trials, and its architecture updates.

Each search step is one architecture step on a fresh batch from the validation distribution (skipped
while alpha is in warm-up), then one weight step on a fresh training batch (paper 2, SPEC 4). Alpha
(T, edges, candidates) reaches the supernet through a relaxation (``bohb_das.relaxations``, softmax by
default). The architecture step is one of ``UPDATES``: the first-order gradient of DAS (taken with
``autograd.grad`` with respect to alpha alone, which skips the weight gradients it does not need),
second-order unrolled DARTS (``bohb_das.second_order``) or a ZARTS zero-order update
(``bohb_das.zero_order``). All of them see the same objective: the validation loss at the relaxed
weights plus the relaxation's penalty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from bohb_das import second_order, zero_order
from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams
from bohb_das.operations import Context
from bohb_das.relaxations import Relaxation
from bohb_das.rng import TrialStreams
from bohb_das.search_spaces import Genotype, SearchSpace
from bohb_das.training import STEPS_PER_EPOCH, Failures, Problem, Progress, build, evaluate, train, trial_losses

ALPHA_INIT_STD = 1e-3
ALPHA_WARMUP_FRACTION = 0.2


@dataclass
class SearchOutcome:
    genotypes: list[Genotype]
    alphas: torch.Tensor  # (T, edges, candidates)
    one_shot_psnr: torch.Tensor  # (T,)


def relaxation_of(hp: HParams) -> Relaxation:
    return Relaxation(hp.relaxation, hp.gumbel_tau_max, hp.gumbel_tau_min, hp.sparsestmax_ramp, hp.zero_one_weight)


class ArchitectureStep:
    """The alpha update of one search step: the update rule, the relaxation and its schedule, the
    optimizer, warm-up freeze and linear decay. ``update`` names an entry of ``UPDATES``."""

    def __init__(
        self,
        model: SearchSpace,
        alpha: nn.Parameter,
        problem: Problem,
        hp: HParams,
        failures: Failures,
        update: str = "first_order",
    ):
        self.model, self.alpha, self.problem, self.hp, self.failures = model, alpha, problem, hp, failures
        if update not in UPDATES:
            raise ConfigError(f"unknown architecture update {update!r} (known: {', '.join(UPDATES)})")
        self.rule = UPDATES[update]
        self.relaxation = relaxation_of(hp)
        device = problem.normal.device
        self.noise = TrialStreams(problem.seeds, "relaxation-noise", device)
        self.directions = TrialStreams(problem.seeds, "zero-order-directions", device)
        self._replicas: dict[int, tuple[Problem, TrialStreams]] = {}
        self.step, self.progress = 0, 0.0  # progress of the search in [0, 1] drives the relaxation's schedules
        if hp.alpha_optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam([alpha], lr=hp.alpha_lr, weight_decay=hp.alpha_decay, foreach=True)
        else:
            self.optimizer = torch.optim.SGD([alpha], lr=hp.alpha_lr, weight_decay=hp.alpha_decay)

    def mixing(self, alpha: torch.Tensor | None = None, noise: TrialStreams | None = None) -> torch.Tensor:
        """The relaxed mixing weights of ``alpha`` (default: this search's) at the current progress,
        with the relaxation's noise drawn from ``noise`` (default: this search's streams)."""
        return self.relaxation(self.alpha if alpha is None else alpha, self.progress, self.noise if noise is None else noise)

    def replicas(self, copies: int) -> tuple[Problem, TrialStreams]:
        """Training data and relaxation noise for ``copies`` copies of every trial (trial-major, as
        ``SearchSpace.replicate``): the copies of a trial draw identical numbers."""
        if copies not in self._replicas:
            seeds = [seed for seed in self.problem.seeds for _ in range(copies)]
            noise = TrialStreams(seeds, "replica-noise", self.noise.device)
            self._replicas[copies] = (self.problem.derived("replica-data", seeds), noise)
        return self._replicas[copies]

    def objective(
        self,
        model: SearchSpace,
        alpha: torch.Tensor,
        x: torch.Tensor,
        ctx: Context,
        noise: TrialStreams | None = None,
        parameters: dict[str, torch.Tensor] | None = None,
        reduction: str | None = None,
    ) -> torch.Tensor:
        """(T,) what every update minimizes: the loss at the relaxed weights plus the relaxation's
        penalty; the loss reduced as the profile's ``alpha_loss`` unless ``reduction`` says otherwise."""
        weights = self.mixing(alpha, noise)
        reduction = reduction or self.problem.profile.alpha_loss
        return trial_losses(model, weights, x, ctx, reduction, parameters) + self.relaxation.penalty(alpha)

    def __call__(self, step: int, total: int) -> None:
        self.step, self.progress = step, step / total
        if self.hp.alpha_warmup and step < round(ALPHA_WARMUP_FRACTION * total):
            return
        lr = self.hp.alpha_lr * (1 - step / total) if self.hp.alpha_scheduler == "linear" else self.hp.alpha_lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        gradient = self.rule(self)
        if gradient is not None:  # GLD moves alpha itself
            self.alpha.grad = gradient
            self.optimizer.step()


def first_order(step: ArchitectureStep) -> torch.Tensor:
    """DAS: the gradient of the validation objective at the current weights."""
    x, ctx = step.problem.batch()
    losses = step.objective(step.model, step.alpha, x, ctx)
    step.failures.check(losses, f"search alpha step {step.step}")
    (gradient,) = torch.autograd.grad(losses.sum(), [step.alpha])
    return gradient


def das_search(
    space: type[SearchSpace],
    candidates: Sequence[str],
    problem: Problem,
    hp: HParams,
    epochs: int,
    width: int,
    failures: Failures,
    progress: Progress | None = None,
    model: SearchSpace | None = None,
    train_weights: bool = True,
    update: str = "first_order",
) -> SearchOutcome:
    """Searches T supernets at once and measures each one's one-shot validation PSNR.

    ``update`` names the architecture update (``UPDATES``). ``model`` replaces the freshly initialized
    supernet; with ``train_weights=False`` its weights stay as given and only alpha is searched
    (DAS-single: pretrained operations frozen inside the supernet).
    """
    model = build(space, candidates, problem, width, "search-init") if model is None else model
    shape = (len(space.edges), len(model.candidates))
    init = ALPHA_INIT_STD * TrialStreams(problem.seeds, "alpha-init").randn(*shape, dtype=torch.float64)
    alpha = nn.Parameter(init.to(device=problem.normal.device, dtype=problem.dtype))
    arch_step = ArchitectureStep(model, alpha, problem.derived("search-alpha"), hp, failures, update)
    if train_weights:
        train(
            model, lambda: arch_step.mixing().detach(), problem, hp, epochs, failures, "search",
            before_step=arch_step, progress=progress,
        )
    else:
        search_alpha_only(arch_step, epochs, failures, progress)
    final = arch_step.relaxation(alpha.detach(), 1.0)  # the end of the schedules, without noise
    one_shot = evaluate(model, final, problem.derived("eval-one-shot"))
    return SearchOutcome(model.discretize(alpha.detach()), alpha.detach(), one_shot)


def search_alpha_only(arch_step: ArchitectureStep, epochs: int, failures: Failures, progress: Progress | None) -> None:
    """The search with the weight steps left out: ``epochs * STEPS_PER_EPOCH`` architecture steps."""
    total = epochs * STEPS_PER_EPOCH
    arch_step.model.train()  # BatchNorm normalizes with batch statistics, as in the joint search
    for step in range(total):
        arch_step(step, total)
        if failures.all_failed:
            return
        if progress is not None and (step + 1) % STEPS_PER_EPOCH == 0:
            progress("search", (step + 1) // STEPS_PER_EPOCH, epochs)


#: The architecture updates by name (``first_order`` is DAS).
UPDATES: dict[str, Callable[[ArchitectureStep], torch.Tensor | None]] = {
    "first_order": first_order,
    "second_order": second_order.unrolled_gradient,
    "zarts_rs": zero_order.random_search_gradient,
    "zarts_mgs": zero_order.mgs_gradient,
    "zarts_gld": zero_order.gld_move,
}
