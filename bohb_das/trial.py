"""The trial runner: one method (``bohb_das.methods``: search, discretize, retrain from scratch)
and the two PSNR targets.

A trial is one seed of one method with one hyperparameter set on one formation, operation set and
space, under one experiment profile (SPEC 6). ``run_trials`` runs any number of seeds batched in
one model; a trial's result does not depend on which other trials share its batch.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Sequence

import torch

from bohb_das.errors import ConfigError, require_integer
from bohb_das.experiment import Experiment
from bohb_das.problems import get_problem
from bohb_das.hparams import HParams
from bohb_das.methods import DEFAULT_RANDOM_SEARCH_K, METHODS, retrain
from bohb_das.optim import blocks_of, grouped_order, per_trial
from bohb_das.profiles import profile_of_record
from bohb_das.training import Progress, TrialData

__all__ = ["COMPUTATION_VERSION", "METHODS", "TrialResult", "TrialSpec", "resolve_device", "retrain", "run_trials"]

#: The version of how a trial is computed from its spec and seed. Bump it with any change that moves
#: a trial's numbers (tests/test_golden.py pins them): cached trials of another version are not reused.
COMPUTATION_VERSION = 2


@dataclass(frozen=True)
class TrialSpec(Experiment):
    """Everything that defines a trial except its seed: the run definition, the epochs and the
    hyperparameters. ``k``: random_search's number of random architectures per trial (default 5, the
    paper's); None for every other method. Without retraining the architecture PSNR is absent (NaN).
    """

    epochs: int = 50
    hparams: HParams = field(default_factory=HParams)
    k: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        require_integer("epochs", self.epochs)
        METHODS[self.method].check_relaxation(self.method, self.hparams.relaxation)
        if self.method == "random_search":
            if self.k is None:
                object.__setattr__(self, "k", DEFAULT_RANDOM_SEARCH_K)
            require_integer("k", self.k)
        elif self.k is not None:
            raise ConfigError(f"k (random architectures per trial) applies to random_search only, not {self.method}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrialSpec":
        """The inverse of ``to_dict`` (a trial record's ``spec``; one without a profile is spec-v1's)."""
        if not isinstance(values, dict) or not isinstance(values.get("hparams"), dict):
            raise ConfigError(f"a trial spec is a mapping with an 'hparams' mapping, got {values!r}")
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"unknown trial spec field {unknown[0]!r}")
        return cls(**{**values, "hparams": HParams.from_mapping(values["hparams"]), "profile": profile_of_record(values)})

    def to_dict(self) -> dict[str, Any]:
        """``retrain`` is written only when off, so retrained trials keep their records and cache keys."""
        out = {**asdict(self), "hparams": self.hparams.to_dict(), "profile": self.profile.to_dict()}
        if self.retrain:
            del out["retrain"]
        return out


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
    hparams: Sequence[HParams] | None = None,
) -> list[TrialResult]:
    """Runs ``len(seeds)`` trials of ``spec`` batched in one model (search, then retraining).

    ``hparams`` gives trial i its own hyperparameters instead of ``spec.hparams`` (the configurations
    of a BOHB rung trained together); each result's spec carries its trial's, and equals the
    result of running that trial alone.
    """
    if not seeds:
        raise ConfigError("at least one seed is needed")
    trial_hparams = per_trial(spec.hparams if hparams is None else hparams, len(seeds))
    if len(set(zip(trial_hparams, seeds))) != len(seeds):
        raise ConfigError("trials of one batch must differ in their seed or their hyperparameters")
    order = grouped_order(trial_hparams)
    seeds, trial_hparams = [seeds[i] for i in order], [trial_hparams[i] for i in order]
    blocks_of(trial_hparams)  # refuses a batch that cannot train together before any work
    dev = resolve_device(device)
    start = time.perf_counter()
    problem = get_problem(spec.formation, spec.profile)
    method = METHODS[spec.method]
    outcome = method.run(spec, TrialData(problem, seeds, "search-data", dev, dtype), trial_hparams, progress)
    seconds = (time.perf_counter() - start) / len(seeds)
    floor = problem.backprojection_psnr()
    device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({platform.machine()})"
    results = []
    for t, (seed, hp) in enumerate(zip(seeds, trial_hparams)):
        one_shot, arch, reason = float(outcome.one_shot_psnr[t]), float(outcome.arch_psnr[t]), outcome.reasons[t]
        if reason is None and not ((math.isfinite(arch) or not spec.retrain) and (math.isfinite(one_shot) or not method.one_shot)):
            reason = "non-finite validation PSNR"
        ok = reason is None
        genotype = outcome.genotypes[t]
        results.append(TrialResult(
            seed=seed,
            status="ok" if ok else "failed",
            reason=reason,
            one_shot_psnr=one_shot if ok else math.nan,
            arch_psnr=arch if ok else math.nan,
            genotype=genotype.to_json() if ok and genotype is not None else None,
            alphas=outcome.alphas[t],
            seconds=seconds,
            device=device_name,
            backprojection_psnr=floor,
            spec=spec if hp == spec.hparams else replace(spec, hparams=hp),
        ))
    return [results[j] for j in sorted(range(len(order)), key=order.__getitem__)]  # the caller's order
