"""Differentiable architecture search (DAS / first-order DARTS), batched over trials.

Each search step is one architecture step on a fresh batch from the validation distribution (skipped
while alpha is in warm-up), then one weight step on a fresh training batch (paper 2, SPEC 4). Alpha
(T, edges, candidates) is mixed through a softmax; its gradient is taken with ``autograd.grad`` with
respect to alpha alone, which skips the weight gradients that the architecture step does not need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from bohb_das.hparams import HParams
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


class ArchitectureStep:
    """The alpha update of one search step: optimizer, warm-up freeze and linear decay."""

    def __init__(self, model: SearchSpace, alpha: nn.Parameter, problem: Problem, hp: HParams, failures: Failures):
        self.model, self.alpha, self.problem, self.hp, self.failures = model, alpha, problem, hp, failures
        if hp.alpha_optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam([alpha], lr=hp.alpha_lr, weight_decay=hp.alpha_decay, foreach=True)
        else:
            self.optimizer = torch.optim.SGD([alpha], lr=hp.alpha_lr, weight_decay=hp.alpha_decay)

    def __call__(self, step: int, total: int) -> None:
        if self.hp.alpha_warmup and step < round(ALPHA_WARMUP_FRACTION * total):
            return
        lr = self.hp.alpha_lr * (1 - step / total) if self.hp.alpha_scheduler == "linear" else self.hp.alpha_lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, ctx = self.problem.batch()
        losses = trial_losses(self.model, torch.softmax(self.alpha, -1), x, ctx)
        self.failures.check(losses, f"search alpha step {step}")
        (self.alpha.grad,) = torch.autograd.grad(losses.sum(), [self.alpha])
        self.optimizer.step()


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
) -> SearchOutcome:
    """Searches T supernets at once and measures each one's one-shot validation PSNR.

    ``model`` replaces the freshly initialized supernet; with ``train_weights=False`` its weights stay
    as given and only alpha is searched (DAS-single: pretrained operations frozen inside the supernet).
    """
    model = build(space, candidates, problem, width, "search-init") if model is None else model
    shape = (len(space.edges), len(model.candidates))
    init = ALPHA_INIT_STD * TrialStreams(problem.seeds, "alpha-init").randn(*shape, dtype=torch.float64)
    alpha = nn.Parameter(init.to(device=problem.normal.device, dtype=problem.dtype))
    arch_step = ArchitectureStep(model, alpha, problem.derived("search-alpha"), hp, failures)
    if train_weights:
        train(
            model, lambda: torch.softmax(alpha, -1).detach(), problem, hp, epochs, failures, "search",
            before_step=arch_step, progress=progress,
        )
    else:
        search_alpha_only(arch_step, epochs, failures, progress)
    weights = torch.softmax(alpha, -1).detach()
    one_shot = evaluate(model, weights, problem.derived("eval-one-shot"))
    return SearchOutcome(model.discretize(weights), alpha.detach(), one_shot)


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
