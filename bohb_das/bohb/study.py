"""What a BOHB run optimizes: the trial settings, the target and the Hyperband schedule.

A study is fixed for the life of a run directory (it is the manifest's core and is handed to every
worker through the nameserver), so a resumed run or a late remote worker cannot drift from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from bohb_das.bohb.samplers import SAMPLERS, Sampler
from bohb_das.errors import ConfigError, require_integer
from bohb_das.experiment import Experiment
from bohb_das.hparams import HParams
from bohb_das.methods import METHODS
from bohb_das.profiles import profile_of_record
from bohb_das.targets import Target
from bohb_das.trial import TrialSpec


@dataclass(frozen=True)
class Study(Experiment):
    """``seed`` seeds BOHB's sampling; every evaluation trains ``repeats`` seeds ``seed, seed+1, ...``
    batched in one model (``--seeds-per-eval``), and its loss is the ``quantile`` of their losses (0.5:
    the median; higher is more pessimistic). ``relaxation`` is the relaxation of every evaluation
    unless the hyperparameter space tunes it. ``profile`` travels resolved (every setting), so a
    worker on another host needs no profile file. ``retrain=False`` (one-shot target only) skips the
    retraining of each evaluation. ``sampler`` proposes the configurations (``samplers.SAMPLERS``;
    one that evaluates at the largest budget only sets the smallest to it)."""

    target: Target = Target.ARCH
    iterations: int = 4
    min_budget: float = 50 / 9
    max_budget: float = 50.0
    eta: float = 3.0
    seed: int = 0
    repeats: int = 1
    hp_space: str = "das"
    quantile: float = 0.5
    relaxation: str = "softmax"
    sampler: str = "bohb"

    def __post_init__(self) -> None:
        super().__post_init__()
        # a worker rebuilds the study without the master's sampler (a plugin's, or one whose package it
        # lacks): the master checks it (``sampling``), and the stored budgets are already adjusted
        if self.sampler in SAMPLERS and SAMPLERS[self.sampler].largest_budget_only and isinstance(self.max_budget, (int, float)):
            object.__setattr__(self, "min_budget", self.max_budget)
        for name in ("min_budget", "max_budget", "eta", "quantile"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number, got {value!r}")
            object.__setattr__(self, name, float(value))
        object.__setattr__(self, "target", Target.parse(self.target))
        for name in ("iterations", "repeats"):
            require_integer(name, getattr(self, name))
        require_integer("seed", self.seed, lowest=0)
        if not 0 < self.min_budget <= self.max_budget:
            raise ConfigError(f"budgets must satisfy 0 < min-budget <= max-budget, got {self.min_budget}, {self.max_budget}")
        if round(self.min_budget) < 1:
            raise ConfigError(f"min-budget is a number of epochs and must round to at least 1, got {self.min_budget}")
        if not self.eta >= 2:
            raise ConfigError(f"eta must be >= 2, got {self.eta}")
        if not 0 <= self.quantile <= 1:
            raise ConfigError(f"quantile must lie in [0, 1], got {self.quantile}")
        if not self.retrain and self.target is not Target.ONE_SHOT:
            raise ConfigError("--no-retrain leaves no architecture PSNR: it needs --target one-shot")
        self.hparams({})  # validates the relaxation
        METHODS[self.method].check_relaxation(self.method, self.relaxation)

    def sampling(self) -> Sampler:
        """The study's sampler; an unknown one, or one whose package is missing, is a one-line error
        (the master's concern: its workers never sample)."""
        sampler = SAMPLERS[self.sampler]
        sampler.check_installed(self.sampler)
        return sampler

    @property
    def trial_seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.repeats))

    def hparams(self, config: Mapping[str, Any]) -> HParams:
        """The trial hyperparameters of a BOHB configuration: the fields it lacks keep their defaults,
        the relaxation the study's."""
        return HParams.from_mapping(config, defaults=HParams(relaxation=self.relaxation))

    def trial_spec(self, epochs: int, config: Mapping[str, Any]) -> TrialSpec:
        """The core's TrialSpec for one evaluation of ``config``."""
        return TrialSpec(**self.definition(), epochs=epochs, hparams=self.hparams(config))

    def to_dict(self) -> dict[str, Any]:
        """Plain values (the manifest's JSON, the task published to workers)."""
        return {**asdict(self), "target": self.target.value, "profile": self.profile.to_dict()}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Study":
        """Picks the study's fields out of a manifest (other keys are ignored); a manifest written
        before profiles existed ran under spec-v1."""
        picked = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        return cls(**{**picked, "profile": profile_of_record(values)})
