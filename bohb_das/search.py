"""Differentiable architecture search (DAS / DARTS), batched over trials.

Each search step is one architecture step on a fresh batch from the validation distribution (skipped
while alpha is in warm-up), then one weight step on a fresh training batch (paper 2, SPEC 4). Alpha
(T, rows, options: the space's ``alpha_shape``) reaches the supernet through a relaxation
(``bohb_das.relaxations``, softmax by default; each of a space's choices through its own). The
architecture step applies one of ``bohb_das.updates``: first-order DAS, second-order unrolled DARTS,
a ZARTS zero-order update or the sparse supernet's proximal one. All of them see the same objective: the validation
loss at the relaxed weights plus the relaxation's penalty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from bohb_das.hparams import HParams
from bohb_das.operations import Context
from bohb_das.optim import BlockOptimizer, alpha_optimizer, blocks_of, per_trial, trial_values
from bohb_das.relaxations import RELAXATIONS, ArchitectureRelaxation
from bohb_das.rng import TrialStreams
from bohb_das.search_spaces import Genotype, SearchSpace
from bohb_das.updates import UPDATES
from bohb_das.training import STEPS_PER_EPOCH, Failures, TrialData, Progress, build, evaluate, train, trial_losses

ALPHA_WARMUP_FRACTION = 0.2


@dataclass
class SearchOutcome:
    genotypes: list[Genotype]
    alphas: torch.Tensor  # (T, rows, options)
    one_shot_psnr: torch.Tensor  # (T,)
    supernet: SearchSpace  # as the search left it: a one-phase method fine-tunes it


class ArchitectureStep:
    """The alpha update of one search step: the update rule, the relaxation and its schedule, the
    optimizer, warm-up freeze and linear decay. ``update`` names an entry of ``UPDATES``; ``hp`` is
    every trial's hyperparameters or one set per trial (``bohb_das.optim``), and ``shared`` the
    settings all trials of the batch agree on (relaxation, ZARTS)."""

    def __init__(
        self,
        model: SearchSpace,
        alpha: nn.Parameter,
        data: TrialData,
        hp: HParams | Sequence[HParams],
        failures: Failures,
        update: str = "first_order",
    ):
        self.model, self.alpha, self.data, self.failures = model, alpha, data, failures
        self.rule = UPDATES[update]
        self.blocks = blocks_of(per_trial(hp, data.trials))
        self.shared = self.blocks[0].hparams
        self.relaxation = ArchitectureRelaxation([
            (rows, options, RELAXATIONS[choice.relaxation or self.shared.relaxation](self.shared))
            for (rows, options), choice in zip(model.blocks(), model.choices)
        ])
        device = data.device
        self.noise = TrialStreams(data.seeds, "relaxation-noise", device)
        self.directions = TrialStreams(data.seeds, "zero-order-directions", device)
        self._replicas: dict[int, tuple[TrialData, TrialStreams]] = {}
        self.step, self.progress = 0, 0.0  # progress of the search in [0, 1] drives the relaxation's schedules
        self.watched = [True] * data.trials  # the trials that take this step (not in alpha warm-up)
        self.optimizer = BlockOptimizer([alpha], self.blocks, alpha_optimizer)
        self.state: dict[str, object] = {}  # what an update carries from step to step (hapg's momentum)
        self.total = 1

    def mixing(self, alpha: torch.Tensor | None = None, noise: TrialStreams | None = None) -> torch.Tensor:
        """The relaxed mixing weights of ``alpha`` (default: this search's) at the current progress,
        with the relaxation's noise drawn from ``noise`` (default: this search's streams)."""
        return self.relaxation(self.alpha if alpha is None else alpha, self.progress, self.noise if noise is None else noise)

    def replicas(self, copies: int) -> tuple[TrialData, TrialStreams]:
        """Training data and relaxation noise for ``copies`` copies of every trial (trial-major, as
        ``SearchSpace.replicate``): the copies of a trial draw identical numbers."""
        if copies not in self._replicas:
            seeds = [seed for seed in self.data.seeds for _ in range(copies)]
            noise = TrialStreams(seeds, "replica-noise", self.noise.device)
            self._replicas[copies] = (self.data.derived("replica-data", seeds), noise)
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
        penalty; the loss reduced as the profile's ``alpha_loss`` and scaled by its ``alpha_loss_scale``
        unless ``reduction`` says otherwise (the weight step that second order unrolls)."""
        weights = self.mixing(alpha, noise)
        profile = self.data.profile
        losses = trial_losses(model, weights, x, ctx, reduction or profile.alpha_loss, parameters)
        if reduction is None and profile.alpha_loss_scale != 1.0:
            losses = profile.alpha_loss_scale * losses
        return losses + self.relaxation.penalty(alpha)

    def check(self, losses: torch.Tensor) -> None:
        """Fails the trials of this step whose objective is not finite."""
        self.failures.check(losses, f"search alpha step {self.step}", self.watched)

    def resting(self, hp: HParams) -> bool:
        """Whether trials with ``hp`` are in alpha warm-up at this step."""
        return hp.alpha_warmup and self.step < round(ALPHA_WARMUP_FRACTION * self.total)

    def lr(self, hp: HParams) -> float:
        """The alpha learning rate of trials with ``hp`` at this step (its schedule applied)."""
        return hp.alpha_lr * (1 - self.progress) if hp.alpha_scheduler == "linear" else hp.alpha_lr

    def rates(self) -> torch.Tensor:
        """(T,) every trial's alpha learning rate at this step."""
        return trial_values(self.blocks, self.lr, self.alpha)

    def apply(self, gradient: torch.Tensor) -> None:
        """One step of every trial's alpha optimizer along ``gradient``, for the trials not resting."""
        self.alpha.grad = gradient
        self.optimizer.step(lambda hp: not self.resting(hp))

    def __call__(self, step: int, total: int) -> None:
        self.step, self.total, self.progress = step, total, step / total
        rows = [t for b in self.blocks if self.resting(b.hparams) for t in range(b.rows.start, b.rows.stop)]
        if len(rows) == self.data.trials:
            return
        self.watched = [t not in rows for t in range(self.data.trials)]
        self.optimizer.set_lr(self.lr)
        restore = self._keep(rows)
        self.model.train(self.data.profile.alpha_bn == "batch")  # running: BatchNorm in evaluation mode
        gradient = self.rule(self)
        self.model.train()
        restore()
        if gradient is not None:  # GLD and HAPG move alpha themselves
            self.apply(gradient)

    def _keep(self, rows: list[int]) -> Callable[[], None]:
        """Undoes, for the trials ``rows`` in alpha warm-up, what computing the batch's step changed:
        alone, such a trial takes no step, so its alpha, BatchNorm statistics and random streams must
        come out as they went in. Returns the undo."""
        if not rows:
            return lambda: None
        alpha = self.alpha.detach()[rows].clone()
        buffers = [(b, b[rows].clone()) for b in self.model.buffers()]
        before = set(self._replicas)
        streams = [(s, s.state(trial_rows)) for s, trial_rows in self._streams(rows)]

        def undo() -> None:
            with torch.no_grad():
                self.alpha[rows] = alpha
                for buffer, kept in buffers:
                    buffer[rows] = kept
            for stream, state in streams:
                stream.set_state(state)
            for copies in set(self._replicas) - before:  # made during this step: back to their start
                for stream in (self._replicas[copies][0].streams, self._replicas[copies][1]):
                    stream.reset(copy_rows(rows, copies))

        return undo

    def _streams(self, rows: list[int]) -> list[tuple[TrialStreams, list[int]]]:
        """Every random stream a step draws from, with the rows of the trials ``rows`` in it."""
        own = [(s, rows) for s in (self.data.streams, self.noise, self.directions)]
        return own + [
            (stream, copy_rows(rows, copies))
            for copies, (data, noise) in self._replicas.items() for stream in (data.streams, noise)
        ]


def copy_rows(rows: list[int], copies: int) -> list[int]:
    """The rows of trials ``rows`` among ``copies`` trial-major copies of every trial."""
    return [t * copies + c for t in rows for c in range(copies)]


def initial_alpha(data: TrialData, shape: tuple[int, ...]) -> torch.Tensor:
    """(T, *shape) N(0, alpha_init_std^2) of the profile, drawn in float64 from each trial's stream."""
    init = data.profile.alpha_init_std * TrialStreams(data.seeds, "alpha-init").randn(*shape, dtype=torch.float64)
    return init.to(device=data.device, dtype=data.dtype)


def das_search(
    space: type[SearchSpace],
    candidates: Sequence[str],
    data: TrialData,
    hp: HParams | Sequence[HParams],
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
    model = build(space, candidates, data, width, "search-init") if model is None else model
    alpha = nn.Parameter(initial_alpha(data, model.alpha_shape()))
    arch_step = ArchitectureStep(model, alpha, data.derived("search-alpha"), hp, failures, update)
    with torch.no_grad():
        alpha.copy_(arch_step.relaxation.initial(alpha))
    if train_weights:
        train(
            model, lambda: arch_step.mixing().detach(), data, hp, epochs, failures, "search",
            before_step=arch_step, progress=progress,
        )
    else:
        search_alpha_only(arch_step, epochs, failures, progress)
    final = arch_step.relaxation(alpha.detach(), 1.0)  # the end of the schedules, without noise
    one_shot = evaluate(model, final, data.derived("eval-one-shot"), data.profile.one_shot_bn)
    return SearchOutcome(model.genotypes(arch_step.relaxation.kept(alpha.detach())), alpha.detach(), one_shot, model)


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
