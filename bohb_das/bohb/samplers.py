"""Configuration samplers: what proposes the next configuration on hpbandster's Hyperband schedule.

hpbandster's master separates the schedule (brackets of successive halving) from the sampler, a
config generator with ``get_config(budget) -> (config, info)`` and ``new_result(job)``. BOHB's is a
KDE model (hpbandster's own, built by its ``BOHB`` class); the workers, slots, run directory, resume
and report serve any other unchanged. A sampler registers in ``SAMPLERS`` (``--sampler``) as a
``Sampler``: how to make its generator from the run's configuration space, BOHB's own generator and
a seed, whether it evaluates at the largest budget only, and the package it needs. The built-ins:
``bohb`` (the default), ``hyperband`` (random configurations on the same schedule), ``random-search``
(random configurations at the largest budget only) and ``tpe`` (Optuna's TPE, ``TPEGenerator``). A
factory imports hpbandster or Optuna when it runs, never when this module loads (the plugin door
loads it in processes that must not import them).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Callable

from bohb_das.errors import ConfigError
from bohb_das.registry import Registry

#: (configuration space, BOHB's KDE generator, seed) -> the generator that proposes the run's configurations.
GeneratorFactory = Callable[[Any, Any, int], Any]


@dataclass(frozen=True)
class Sampler:
    """``make`` builds the config generator; ``largest_budget_only``: every evaluation at the
    largest budget (the study's smallest is set to it); ``model_based``: it fits a model to the
    results (and so makes model-based picks once it has enough of them); ``needs``: the module it
    imports and the extra of bohb-das that installs it."""

    make: GeneratorFactory
    largest_budget_only: bool = False
    model_based: bool = True
    needs: tuple[str, str] | None = None

    def check_installed(self, name: str) -> None:
        """A one-line error naming the extra to install where the sampler's package is missing."""
        if self.needs is not None and importlib.util.find_spec(self.needs[0]) is None:
            raise ConfigError(f"the {name} sampler needs {self.needs[0]}: pip install 'bohb-das[{self.needs[1]}]'")


#: Samplers by name (``--sampler``); a plugin registers its own with ``SAMPLERS.register(name)(Sampler(...))``.
SAMPLERS: Registry[Sampler] = Registry("sampler")


def _kde(space: Any, kde: Any, seed: int) -> Any:
    return kde


def _random(space: Any, kde: Any, seed: int) -> Any:
    from hpbandster.optimizers.config_generators.random_sampling import RandomSampling

    return RandomSampling(space)


class TPEGenerator:
    """Optuna's TPE through its ask-and-tell interface, one Optuna study per budget (BOHB's rule:
    the model of the largest budget with enough results proposes). A proposal is asked of that
    study, its parameters suggested in the space's order (a conditional one only where its equality
    condition holds), and closed as failed, which TPE does not learn from; every result joins the
    study of its budget as a finished trial. Until a budget has ``STARTUP`` results, its study
    samples at random (TPE's start-up)."""

    STARTUP = 10

    def __init__(self, space: Any, seed: int) -> None:
        import optuna
        from ConfigSpace import EqualsCondition

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.optuna, self.seed = optuna, seed
        self.hyperparameters = list(space.values())  # parents before their children
        self.conditions = {}
        for condition in space.conditions:
            if not isinstance(condition, EqualsCondition):
                raise ConfigError(f"the tpe sampler reads equality conditions only, got {condition}")
            self.conditions[condition.child.name] = condition
        self.studies: dict[float, Any] = {}

    def _study(self, budget: float) -> Any:
        if budget not in self.studies:
            sampler = self.optuna.samplers.TPESampler(seed=self.seed + len(self.studies), n_startup_trials=self.STARTUP)
            self.studies[budget] = self.optuna.create_study(sampler=sampler)
        return self.studies[budget]

    def _finished(self, budget: float) -> int:
        return len(self.studies[budget].get_trials(deepcopy=False, states=(self.optuna.trial.TrialState.COMPLETE,)))

    def _active(self, hp: Any, config: dict[str, Any]) -> bool:
        """Whether ``hp`` is active given ``config`` (unconditioned, or its parent at its value)."""
        condition = self.conditions.get(hp.name)
        return condition is None or config.get(condition.parent.name) == condition.value

    def _distribution(self, hp: Any) -> Any:
        distributions = self.optuna.distributions
        if hasattr(hp, "choices"):
            return distributions.CategoricalDistribution(list(hp.choices))
        if isinstance(hp.lower, int) and isinstance(hp.upper, int):
            return distributions.IntDistribution(hp.lower, hp.upper, log=hp.log)
        return distributions.FloatDistribution(hp.lower, hp.upper, log=hp.log)

    def _suggest(self, trial: Any, hp: Any) -> Any:
        distribution = self._distribution(hp)
        if hasattr(hp, "choices"):
            return trial.suggest_categorical(hp.name, distribution.choices)
        if isinstance(distribution, self.optuna.distributions.IntDistribution):
            return trial.suggest_int(hp.name, hp.lower, hp.upper, log=hp.log)
        return trial.suggest_float(hp.name, hp.lower, hp.upper, log=hp.log)

    def get_config(self, budget: float) -> tuple[dict[str, Any], dict[str, Any]]:
        ready = [b for b in self.studies if self._finished(b) >= self.STARTUP]
        study = self._study(max(ready) if ready else float(budget))
        trial, config = study.ask(), {}
        for hp in self.hyperparameters:  # a parent is set before its children are asked about
            if self._active(hp, config):
                config[hp.name] = self._suggest(trial, hp)
        study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
        return config, {"model_based_pick": bool(ready)}

    def new_result(self, job: Any, update_model: bool = True) -> None:
        if job.result is None:  # crashed: no loss to learn from
            return
        config = job.kwargs["config"]
        active = [hp for hp in self.hyperparameters if self._active(hp, config)]
        trial = self.optuna.trial.create_trial(
            params={hp.name: config[hp.name] for hp in active},
            distributions={hp.name: self._distribution(hp) for hp in active}, value=float(job.result["loss"]))
        self._study(float(job.kwargs["budget"])).add_trial(trial)


SAMPLERS.register("bohb")(Sampler(_kde))
SAMPLERS.register("hyperband")(Sampler(_random, model_based=False))
SAMPLERS.register("random-search")(Sampler(_random, largest_budget_only=True, model_based=False))
SAMPLERS.register("tpe")(Sampler(lambda space, kde, seed: TPEGenerator(space, seed), needs=("optuna", "tpe")))
