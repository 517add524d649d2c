"""Configuration samplers: what proposes the next configuration on hpbandster's Hyperband schedule.

hpbandster's master separates the schedule (brackets of successive halving) from the sampler, a
config generator with ``get_config(budget) -> (config, info)`` and ``new_result(job)``. BOHB's is a
KDE model (hpbandster's own, built by its ``BOHB`` class); the workers, slots, run directory, resume
and report serve any other unchanged. A sampler registers in ``SAMPLERS`` (``--sampler``) as a
``Sampler``: how to make its generator from the run's configuration space (seeded) and BOHB's own,
and whether it evaluates at the largest budget only. The built-ins: ``bohb`` (the default),
``hyperband`` (random configurations on the same schedule) and ``random-search`` (random
configurations at the largest budget only). A factory imports hpbandster when it runs, never when
this module loads (the plugin door loads it in processes that must not import hpbandster).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from bohb_das.registry import Registry

#: (configuration space, BOHB's KDE generator) -> the generator that proposes the run's configurations.
GeneratorFactory = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Sampler:
    """``make`` builds the config generator; ``largest_budget_only``: every evaluation at the
    largest budget (the study's smallest is set to it); ``model_based``: it fits a model to the
    results (and so makes model-based picks once it has enough of them)."""

    make: GeneratorFactory
    largest_budget_only: bool = False
    model_based: bool = True


#: Samplers by name (``--sampler``); a plugin registers its own with ``SAMPLERS.register(name)(Sampler(...))``.
SAMPLERS: Registry[Sampler] = Registry("sampler")


def _kde(space: Any, kde: Any) -> Any:
    return kde


def _random(space: Any, kde: Any) -> Any:
    from hpbandster.optimizers.config_generators.random_sampling import RandomSampling

    return RandomSampling(space)


SAMPLERS.register("bohb")(Sampler(_kde))
SAMPLERS.register("hyperband")(Sampler(_random, model_based=False))
SAMPLERS.register("random-search")(Sampler(_random, largest_budget_only=True, model_based=False))
