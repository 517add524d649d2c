"""Configuration samplers: what proposes the next configuration on hpbandster's Hyperband schedule.

hpbandster's master separates the schedule (brackets of successive halving) from the sampler, a
config generator with ``get_config(budget) -> (config, info)`` and ``new_result(job)``. BOHB's is a
KDE model (hpbandster's own, built by its ``BOHB`` class); the workers, slots, run directory, resume
and report serve any other unchanged. A sampler registers in ``SAMPLERS`` (``--sampler``) as a
``Sampler``: how to make its generator from the run's configuration space, BOHB's own generator and
a seed, whether it evaluates at the largest budget only, and the package it needs. The built-ins:
``bohb`` (the default), ``hyperband`` (random configurations on the same schedule), ``random-search``
(random configurations at the largest budget only), ``tpe`` (Optuna's TPE, ``TPEGenerator``) and
``smac`` (SMAC3's random forest, ``SMACGenerator``). A factory imports hpbandster, Optuna or SMAC
when it runs, never when this module loads (the plugin door loads it in processes that must not
import them).
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import tempfile
from collections import Counter
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


def _proposing_budget(finished: dict[float, int], startup: int) -> float | None:
    """BOHB's rule for a model per budget: the largest budget with ``startup`` finished results
    proposes; None while no budget has that many."""
    ready = [budget for budget, n in finished.items() if n >= startup]
    return max(ready) if ready else None


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
        proposing = _proposing_budget({b: self._finished(b) for b in self.studies}, self.STARTUP)
        study = self._study(float(budget) if proposing is None else proposing)
        trial, config = study.ask(), {}
        for hp in self.hyperparameters:  # a parent is set before its children are asked about
            if self._active(hp, config):
                config[hp.name] = self._suggest(trial, hp)
        study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
        return config, {"model_based_pick": proposing is not None}

    def new_result(self, job: Any, update_model: bool = True) -> None:
        if job.result is None:  # crashed: no loss to learn from
            return
        config = job.kwargs["config"]
        active = [hp for hp in self.hyperparameters if self._active(hp, config)]
        trial = self.optuna.trial.create_trial(
            params={hp.name: config[hp.name] for hp in active},
            distributions={hp.name: self._distribution(hp) for hp in active}, value=float(job.result["loss"]))
        self._study(float(job.kwargs["budget"])).add_trial(trial)


def _told_not_called(config: Any, seed: int = 0) -> float:
    raise RuntimeError("SMAC is driven by ask-and-tell here; its target function is never called")


class SMACGenerator:
    """SMAC3's random forest with expected improvement (its hyperparameter-optimization facade)
    through its ask-and-tell interface, one SMAC optimizer per budget under BOHB's rule, as
    ``TPEGenerator``. Until a budget has ``STARTUP`` results, configurations are random (from a
    copy of the space, seeded); SMAC's own initial design is empty, because each optimizer is told
    results before it is first asked. A pick is model-based unless SMAC's interleaved random design
    made it. A configuration asked of one budget's optimizer and evaluated at another stays open
    there as running (SMAC fits its model to finished trials only). Results are
    told with seed 0: the objective is deterministic given the run's seeds, and SMAC keys a
    deterministic scenario by one seed. Each optimizer gets its own copy of the space, because
    SMAC reseeds the space it is given; its logging is left unset (``logging_level=False``) because
    SMAC's own set-up replaces the root logger's handlers, the master's log among them, and its
    logger is quietened to errors instead (its one warning here is that the initial design is
    empty, as it is meant to be)."""

    STARTUP = 10

    def __init__(self, space: Any, seed: int) -> None:
        from ConfigSpace import Configuration
        from smac import HyperparameterOptimizationFacade, Scenario
        from smac.runhistory.dataclasses import TrialInfo, TrialValue

        logging.getLogger("smac").setLevel(logging.ERROR)
        self.facade, self.scenario, self.configuration, self.trial_info, self.trial_value = (
            HyperparameterOptimizationFacade, Scenario, Configuration, TrialInfo, TrialValue)
        self.space, self.seed = copy.deepcopy(space), seed
        self.space.seed(seed)
        self.directory = tempfile.TemporaryDirectory(prefix="bohb-das-smac-")  # SMAC's output, removed with us
        self.optimizers: dict[float, Any] = {}
        self.finished: Counter[float] = Counter()

    def _optimizer(self, budget: float) -> Any:
        if budget not in self.optimizers:
            scenario = self.scenario(copy.deepcopy(self.space), deterministic=True, n_trials=10**9,
                                     seed=self.seed + len(self.optimizers),
                                     output_directory=f"{self.directory.name}/{len(self.optimizers)}")
            self.optimizers[budget] = self.facade(
                scenario, _told_not_called, initial_design=self.facade.get_initial_design(scenario, n_configs=0),
                overwrite=True, logging_level=False)
        return self.optimizers[budget]

    def get_config(self, budget: float) -> tuple[dict[str, Any], dict[str, Any]]:
        proposing = _proposing_budget(self.finished, self.STARTUP)
        if proposing is None:
            return dict(self.space.sample_configuration()), {"model_based_pick": False}
        config = self._optimizer(proposing).ask().config
        return dict(config), {"model_based_pick": not config.origin.startswith("Random Search")}

    def new_result(self, job: Any, update_model: bool = True) -> None:
        if job.result is None:  # crashed: no loss to learn from
            return
        budget = float(job.kwargs["budget"])
        optimizer = self._optimizer(budget)
        config = self.configuration(optimizer.scenario.configspace, values=job.kwargs["config"])
        optimizer.tell(self.trial_info(config=config, seed=0), self.trial_value(cost=float(job.result["loss"])), save=False)
        self.finished[budget] += 1


SAMPLERS.register("bohb")(Sampler(_kde))
SAMPLERS.register("hyperband")(Sampler(_random, model_based=False))
SAMPLERS.register("random-search")(Sampler(_random, largest_budget_only=True, model_based=False))
SAMPLERS.register("tpe")(Sampler(lambda space, kde, seed: TPEGenerator(space, seed), needs=("optuna", "tpe")))
SAMPLERS.register("smac")(Sampler(lambda space, kde, seed: SMACGenerator(space, seed), needs=("smac", "smac")))
