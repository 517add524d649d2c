"""The methods a trial can run (SPEC 5, paper 5.2): DAS, DAS-single and the baselines, and beyond
the paper DAS with other architecture updates: second-order DARTS, the three ZARTS updates and the
sparse supernet (``hapg`` on unnormalised weights, whose support is the architecture), and
Trilevel NAS's one phase (``das_one_phase``: the supernet's weights inherited and fine-tuned).

Every method maps a batch of trials (one ``TrialData``, one seed per trial) to an ``Outcome``: the
architecture each trial ends with and its two PSNRs. All but the one-phase method end in ``retrain``:
the chosen genotypes trained from scratch with each trial's weight hyperparameters, batched over
trials with one-hot mixing weights (the genotypes may differ per trial); ``fine_tune`` trains the
same genotypes from the searched supernet's weights instead, on the same data. Every random choice
comes from the trial's own seeded streams, so a trial's result does not depend on its batch.

Baselines have no supernet, so their one-shot PSNR is NaN ("not defined"), never a copy of the
architecture PSNR: a copy would put them on the diagonal of every one-shot/architecture scatter
plot and inflate the correlations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable, Protocol, Sequence

import torch

from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams
from bohb_das.operations import OP_SETS
from bohb_das.registry import Registry
from bohb_das.rng import TrialStreams, derive_seed
from bohb_das.search import das_search
from bohb_das.search_spaces import SPACES, Genotype, SearchSpace
from bohb_das.training import Failures, TrialData, Progress, build, evaluate, train


class TrialShape(Protocol):
    """What a method reads of its trials' specification (``bohb_das.trial.TrialSpec``, which validates
    against this module's registry and so is not imported here)."""

    @property
    def space(self) -> str: ...
    @property
    def ops(self) -> str: ...
    @property
    def epochs(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def k(self) -> int | None: ...
    @property
    def retrain(self) -> bool: ...

#: The single-operation networks that DAS-single pretrains and freezes inside its supernet.
PRETRAINED_OPS = ("learnable_gd", "net")
#: The paper's random-search budget: 5 random architectures match one DAS run's time (paper 5.2).
DEFAULT_RANDOM_SEARCH_K = 5


@dataclass
class Outcome:
    """Per trial: the final genotype (None once failed), alphas ([] without a supernet), the two
    PSNRs (one-shot NaN without a supernet) and the failure reason (None when it ran through)."""

    genotypes: list[Genotype | None]
    alphas: list[list]
    one_shot_psnr: list[float]
    arch_psnr: list[float]
    reasons: list[str | None]


def train_genotypes(
    space: type[SearchSpace],
    op_names: Sequence[str],
    genotypes: Sequence[Genotype],
    data: TrialData,
    spec: TrialShape,
    hparams: Sequence[HParams],
    progress: Progress | None = None,
    start: SearchSpace | None = None,
) -> tuple[SearchSpace, torch.Tensor, Failures]:
    """Trains each genotype (one trial each, batched, each with its ``hparams``) from scratch, or
    from the weights of ``start`` (changed in place: the one phase's supernet), always from a fresh
    weight optimizer; returns the trained network, its one-hot mixing weights and the failures."""
    model = build(space, op_names, data, spec.width, "retrain-init") if start is None else start
    weights = model.fix(genotypes)
    failures = Failures.none(data.trials)
    phase = "retrain" if start is None else "fine-tune"
    train(model, lambda: weights, data, hparams, spec.epochs, failures, phase, progress=progress)
    return model, weights, failures


def retrain(
    space: type[SearchSpace],
    op_names: Sequence[str],
    genotypes: Sequence[Genotype],
    data: TrialData,
    spec: TrialShape,
    hparams: Sequence[HParams],
    progress: Progress | None = None,
    start: SearchSpace | None = None,
) -> tuple[list[float], list[str | None]]:
    """Each genotype's architecture validation PSNR after training with its ``hparams`` (from
    scratch, or from ``start``: ``train_genotypes``), and its failure reason (None when it trained)."""
    model, weights, failures = train_genotypes(space, op_names, genotypes, data, spec, hparams, progress, start)
    psnrs = evaluate(model, weights, data.derived("eval-arch")).cpu().tolist()
    return psnrs, failures.reasons


def fine_tune(
    supernet: SearchSpace,
    genotypes: Sequence[Genotype],
    data: TrialData,
    spec: TrialShape,
    hparams: Sequence[HParams],
    progress: Progress | None = None,
) -> tuple[list[float], list[str | None]]:
    """``retrain`` from the weights the search left in ``supernet`` (its unchosen operations drop
    out): the two differ only in where the weights start."""
    return retrain(type(supernet), supernet.candidates, genotypes, data, spec, hparams, progress, start=supernet)


def _finish(
    spec: TrialShape,
    data: TrialData,
    hparams: Sequence[HParams],
    genotypes: Sequence[Genotype],
    failures: Failures,
    progress: Progress | None,
    alphas: list[list] | None = None,
    one_shot: Sequence[float] | None = None,
    supernet: SearchSpace | None = None,
) -> Outcome:
    """Retrains the genotypes of the trials that have not failed (on the trials' "retrain-data"
    streams, whatever the method; not at all without ``spec.retrain``), or fine-tunes them inside
    ``supernet`` where it is given, and assembles the outcome."""
    trials = data.trials
    arch = [math.nan] * trials
    alive = [t for t, reason in enumerate(failures.reasons) if reason is None]
    if alive and spec.retrain and supernet is not None:  # the whole batch: a supernet's trials stay together
        psnrs, reasons = fine_tune(supernet, genotypes, data.derived("retrain-data"), spec, hparams, progress)
        for t in alive:
            arch[t], failures.reasons[t] = psnrs[t], reasons[t]
    elif alive and spec.retrain:
        psnrs, reasons = retrain(
            SPACES[spec.space], OP_SETS[spec.ops], [genotypes[t] for t in alive],
            data.derived("retrain-data", [data.seeds[t] for t in alive]), spec,
            [hparams[t] for t in alive], progress,
        )
        for t, value, reason in zip(alive, psnrs, reasons):
            arch[t], failures.reasons[t] = value, reason
    return Outcome(
        genotypes=[g if r is None else None for g, r in zip(genotypes, failures.reasons)],
        alphas=alphas if alphas is not None else [[] for _ in range(trials)],
        one_shot_psnr=list(one_shot) if one_shot is not None else [math.nan] * trials,
        arch_psnr=arch,
        reasons=failures.reasons,
    )


def run_das(spec: TrialShape, data: TrialData, hparams: Sequence[HParams], progress: Progress | None,
            update: str = "first_order", one_phase: bool = False) -> Outcome:
    """DAS: joint search of weights and alpha, argmax architecture, retraining from scratch (with
    ``one_phase``, fine-tuning inside the supernet); ``update`` is the architecture update
    (``bohb_das.updates.UPDATES``: DARTS first or second order, ZARTS, HAPG)."""
    failures = Failures.none(data.trials)
    found = das_search(SPACES[spec.space], OP_SETS[spec.ops], data, hparams, spec.epochs,
                       spec.width, failures, progress, update=update)
    return _finish(spec, data, hparams, found.genotypes, failures, progress, found.alphas.cpu().tolist(),
                   found.one_shot_psnr.cpu().tolist(), found.supernet if one_phase else None)


def uniform_genotype(space: type[SearchSpace], op: str) -> Genotype:
    """Every edge of ``space`` runs ``op`` (a space with other choices has no such baseline)."""
    if space.extra_choices:
        names = ", ".join(choice.name for choice in space.extra_choices)
        raise ConfigError(f"the {space.name} space also chooses {names}: it has no all-{op} baseline")
    return Genotype(space.name, (op,) * len(space.edges))


def fixed(op: str) -> Callable[[TrialShape, TrialData, Sequence[HParams], Progress | None], Outcome]:
    """The baseline that trains the all-``op`` architecture (no search)."""

    def run(spec: TrialShape, data: TrialData, hparams: Sequence[HParams], progress: Progress | None) -> Outcome:
        genotype = uniform_genotype(SPACES[spec.space], op)
        return _finish(spec, data, hparams, [genotype] * data.trials, Failures.none(data.trials), progress)

    return run


def transplant(target: SearchSpace, sources: dict[str, SearchSpace]) -> None:
    """Copies, edge by edge, each operation's weights from the network in ``sources`` that was
    trained with that operation everywhere; the parameters outside the mixed operations (residual
    scale, cell merges) become the mean of the sources'. Operations without a source keep theirs."""
    with torch.no_grad():
        for e, mixed in enumerate(target.mixed):
            for k, op in enumerate(mixed.op_names):
                if op not in sources:
                    continue
                src = sources[op].mixed[e]
                if k in mixed.net_ops:  # the op's network: its channel block of the fused layers
                    j = mixed.net_ops.index(k)
                    channels = slice(j * mixed.width, (j + 1) * mixed.width)
                    mixed.w1[:, :, channels] = src.w1[:, :, channels]
                    mixed.w2[:, channels] = src.w2[:, channels]
                    mixed.b2[:, j] = src.b2[:, j]
                    for per_channel in ("gamma", "beta", "running_mean", "running_var"):
                        getattr(mixed, per_channel)[:, channels] = getattr(src, per_channel)[:, channels]
                if k in mixed.step_ops:
                    j = mixed.step_ops.index(k)
                    mixed.rho[:, j] = src.rho[:, j]
        shared = [name for name, _ in target.named_parameters() if not name.startswith("mixed.")]
        for name in shared:
            values = [dict(source.named_parameters())[name] for source in sources.values()]
            dict(target.named_parameters())[name].copy_(torch.stack(values).mean(0))


def run_das_single(spec: TrialShape, data: TrialData, hparams: Sequence[HParams], progress: Progress | None) -> Outcome:
    """DAS-single (paper Appendix A): the learnable-GD-only and nets-only networks are trained first
    (exactly the ``gd_only`` / ``nets_only`` baselines of the same seed), their weights frozen into
    the supernet layer by layer, and only alpha is searched; the argmax is then retrained."""
    space, op_names = SPACES[spec.space], OP_SETS[spec.ops]
    failures = Failures.none(data.trials)
    pretrained = {}
    for op in PRETRAINED_OPS:
        model, _, pre_failures = train_genotypes(
            space, op_names, [uniform_genotype(space, op)] * data.trials,
            data.derived("retrain-data"), spec, hparams, progress,
        )
        pretrained[op] = model
        for t, reason in enumerate(pre_failures.reasons):
            if reason is not None and failures.reasons[t] is None:
                failures.reasons[t] = f"pretraining {op}: {reason}"
    supernet = build(space, op_names, data, spec.width, "search-init")
    transplant(supernet, pretrained)
    supernet.requires_grad_(False)
    found = das_search(space, op_names, data, hparams, spec.epochs, spec.width, failures, progress,
                       model=supernet, train_weights=False)
    return _finish(spec, data, hparams, found.genotypes, failures, progress, found.alphas.cpu().tolist(),
                   found.one_shot_psnr.cpu().tolist())


def random_genotypes(space: type[SearchSpace], op_names: Sequence[str], seeds: Sequence[int]) -> list[Genotype]:
    """One uniformly random genotype per seed, from that seed's own stream: every row an independent
    uniform pick among its choice's options (``zero``, a dropped edge, included where the space has it)."""
    choices = space.choices_for(op_names)
    genotypes = []
    for generator in TrialStreams(seeds, "random-genotype").generators:
        picks = [choice.options[k] for choice in choices
                 for k in torch.randint(len(choice.options), (len(choice.labels),), generator=generator).tolist()]
        genotypes.append(Genotype(space.name, tuple(None if pick == "zero" else pick for pick in picks)))
    return genotypes


def run_random(spec: TrialShape, data: TrialData, hparams: Sequence[HParams], progress: Progress | None) -> Outcome:
    """A uniformly random architecture per trial, trained from scratch."""
    genotypes = random_genotypes(SPACES[spec.space], OP_SETS[spec.ops], data.seeds)
    return _finish(spec, data, hparams, genotypes, Failures.none(data.trials), progress)


def candidate_seed(seed: int, index: int) -> int:
    """The seed of a random-search trial's ``index``-th candidate (31 bits, distinct w.h.p.)."""
    return derive_seed(seed, f"random-search/{index}") & 0x7FFF_FFFF


def run_random_search(spec: TrialShape, data: TrialData, hparams: Sequence[HParams], progress: Progress | None) -> Outcome:
    """Best of ``spec.k`` random architectures per trial: ``random`` on k candidate seeds derived
    from the trial's seed, all T*k trained in one batch, the best architecture PSNR kept. A failed
    candidate counts as a spent step; the trial fails only when all k did."""
    k = spec.k or DEFAULT_RANDOM_SEARCH_K
    candidates = run_random(
        spec, data.derived("search-data", [candidate_seed(s, i) for s in data.seeds for i in range(k)]),
        [hp for hp in hparams for _ in range(k)], progress,
    )
    outcome = Outcome([], [], [], [], [])
    for t in range(data.trials):
        rows = range(t * k, (t + 1) * k)
        finite = [i for i in rows if candidates.reasons[i] is None and math.isfinite(candidates.arch_psnr[i])]
        best = max(finite, key=lambda i: candidates.arch_psnr[i]) if finite else None
        outcome.genotypes.append(None if best is None else candidates.genotypes[best])
        outcome.alphas.append([])
        outcome.one_shot_psnr.append(math.nan)
        outcome.arch_psnr.append(math.nan if best is None else candidates.arch_psnr[best])
        outcome.reasons.append(None if best is not None else f"all {k} candidates failed ({candidates.reasons[t * k]})")
    return outcome


@dataclass(frozen=True)
class Method:
    """``run`` one batch (one hyperparameter set per trial); ``one_shot``: it has a supernet, hence a one-shot PSNR; ``passes``: how
    many times ``epochs`` it reports progress for (progress bars); ``relaxation``: the one relaxation
    it works with (None: any)."""

    run: Callable[[TrialShape, TrialData, Sequence[HParams], Progress | None], Outcome]
    one_shot: bool
    passes: int
    relaxation: str | None = None

    def check_relaxation(self, name: str, relaxation: str) -> None:
        """Refuses, before anything trains, a relaxation this method (called ``name``) cannot use."""
        if self.relaxation is not None and relaxation != self.relaxation:
            raise ConfigError(f"{name} needs --relaxation {self.relaxation}, got {relaxation}")


def searching(update: str, relaxation: str | None = None, one_phase: bool = False) -> Method:
    """DAS with the architecture update ``update`` (a name in ``bohb_das.updates.UPDATES``); with
    ``one_phase`` the architecture is fine-tuned from the supernet's weights, not retrained."""
    return Method(partial(run_das, update=update, one_phase=one_phase), one_shot=True, passes=2, relaxation=relaxation)


#: Methods by name (``--method``); a plugin's architecture update becomes one with ``searching``.
METHODS: Registry[Method] = Registry("method")
for _name, _method in (
    ("das", searching("first_order")),
    ("das_single", Method(run_das_single, one_shot=True, passes=4)),
    ("darts2", searching("second_order")),
    ("zarts_rs", searching("zarts_rs")),
    ("zarts_mgs", searching("zarts_mgs")),
    ("zarts_gld", searching("zarts_gld")),
    ("sparse_supernet", searching("hapg", relaxation="identity")),
    ("das_one_phase", searching("first_order", one_phase=True)),
    ("gd_only", Method(fixed("learnable_gd"), one_shot=False, passes=1)),
    ("nets_only", Method(fixed("net"), one_shot=False, passes=1)),
    ("random", Method(run_random, one_shot=False, passes=1)),
    ("random_search", Method(run_random_search, one_shot=False, passes=1)),
):
    METHODS.register(_name)(_method)


def matched_k(das_seconds: float, random_seconds: float) -> int:
    """The random-search budget k whose time matches one DAS run (paper 5.2: 2:39 / 0:35 -> 5)."""
    if not (math.isfinite(das_seconds) and math.isfinite(random_seconds) and random_seconds > 0):
        return DEFAULT_RANDOM_SEARCH_K
    return max(1, round(das_seconds / random_seconds))
