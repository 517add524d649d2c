"""The trial runner: search, discretize, retrain from scratch, and the two PSNR targets.

A trial is one seed of one method with one hyperparameter set on one formation, operation set and
space (SPEC 6). ``run_trials`` runs any number of seeds batched in one model; a trial's result does
not depend on which other trials share its batch.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch

from bohb_das.errors import ConfigError
from bohb_das.formations import backprojection_psnr, get_formation
from bohb_das.hparams import HParams
from bohb_das.operations import get_op_set
from bohb_das.search import das_search
from bohb_das.search_spaces import Genotype, SearchSpace, get_space
from bohb_das.training import Failures, Problem, Progress, build, evaluate, train

METHODS = ("das",)


@dataclass(frozen=True)
class TrialSpec:
    """Everything that defines a trial except its seed; invalid names or values raise ConfigError."""

    formation: str = "blur"
    ops: str = "all"
    space: str = "sequential"
    method: str = "das"
    epochs: int = 50
    width: int = 32
    hparams: HParams = field(default_factory=HParams)

    def __post_init__(self) -> None:
        get_formation(self.formation)
        get_op_set(self.ops)
        get_space(self.space)
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r} (known: {', '.join(METHODS)})")
        for name in ("epochs", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrialResult:
    """``seconds`` is the batch's wall time divided by its trials (amortized)."""

    seed: int
    status: str  # "ok" | "failed"
    reason: str | None
    one_shot_psnr: float
    arch_psnr: float
    genotype: dict[str, Any] | None
    alphas: list[Any]
    seconds: float
    device: str
    backprojection_psnr: float
    spec: TrialSpec

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["spec"] = self.spec.to_dict()
        return out


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when there is one; an unavailable device is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r} (use cpu, cuda, cuda:N or auto)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available on this machine")
    return resolved


def run_trials(
    spec: TrialSpec,
    seeds: Sequence[int],
    device: str = "cpu",
    progress: Progress | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[TrialResult]:
    """Runs ``len(seeds)`` trials of ``spec`` batched in one model (search, then retraining)."""
    if not seeds:
        raise ConfigError("at least one seed is needed")
    if len(set(seeds)) != len(seeds):
        raise ConfigError("seeds of one batch must differ")
    dev = resolve_device(device)
    start = time.perf_counter()
    formation = get_formation(spec.formation)
    space = get_space(spec.space)
    op_names = get_op_set(spec.ops)
    failures = Failures.none(len(seeds))
    problem = Problem(formation, seeds, "search-data", dev, dtype)
    outcome = das_search(space, op_names, problem, spec.hparams, spec.epochs, spec.width, failures, progress)
    arch_psnr = [math.nan] * len(seeds)
    alive = [t for t, reason in enumerate(failures.reasons) if reason is None]
    if alive:
        retrain_problem = problem.derived("retrain-data", [seeds[t] for t in alive])
        psnrs, reasons = retrain(
            space, op_names, [outcome.genotypes[t] for t in alive], retrain_problem, spec, progress
        )
        for t, value, reason in zip(alive, psnrs, reasons):
            arch_psnr[t], failures.reasons[t] = value, reason
    seconds = (time.perf_counter() - start) / len(seeds)
    floor = backprojection_psnr(formation)
    device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({platform.machine()})"
    results = []
    for t, seed in enumerate(seeds):
        one_shot, arch = float(outcome.one_shot_psnr[t]), arch_psnr[t]
        reason = failures.reasons[t]
        if reason is None and not (math.isfinite(one_shot) and math.isfinite(arch)):
            reason = "non-finite validation PSNR"
        ok = reason is None
        results.append(
            TrialResult(
                seed=seed,
                status="ok" if ok else "failed",
                reason=reason,
                one_shot_psnr=one_shot if ok else math.nan,
                arch_psnr=arch if ok else math.nan,
                genotype=outcome.genotypes[t].to_json() if ok else None,
                alphas=outcome.alphas[t].cpu().tolist(),
                seconds=seconds,
                device=device_name,
                backprojection_psnr=floor,
                spec=spec,
            )
        )
    return results


def retrain(
    space: type[SearchSpace],
    op_names: Sequence[str],
    genotypes: Sequence[Genotype],
    problem: Problem,
    spec: TrialSpec,
    progress: Progress | None = None,
) -> tuple[list[float], list[str | None]]:
    """Trains each genotype from scratch with the search's weight hyperparameters, batched.

    Returns each one's architecture validation PSNR and failure reason (None when it trained).
    """
    model = build(space, op_names, problem, spec.width, "retrain-init")
    weights = model.one_hot(genotypes)
    failures = Failures.none(problem.trials)
    train(model, lambda: weights, problem, spec.hparams, spec.epochs, failures, "retrain", progress=progress)
    psnrs = evaluate(model, weights, problem.derived("eval-arch")).cpu().tolist()
    return psnrs, failures.reasons
