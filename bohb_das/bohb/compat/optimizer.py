"""hpbandster's BOHB with the hooks bohb-das's master needs (see ``bohb_das.bohb.compat``: 0.7.4 has no
public way to give them, so the private methods are overridden here and nowhere else)."""

from __future__ import annotations

from typing import Any

from hpbandster.core.dispatcher import Job
from hpbandster.optimizers.bohb import BOHB

from bohb_das.bohb.compat import ConfigId, plain


class HookedBOHB(BOHB):
    """hpbandster's BOHB with the hooks bohb-das's master fills in (module docstring); by default
    each behaves as hpbandster does. ``sampler(configspace, kde)`` (a ``samplers.GeneratorFactory``
    with its seed given) replaces the KDE config generator that hpbandster's BOHB builds for itself
    (it takes no generator): the master reads its generator only through ``get_config`` and
    ``new_result``, so any other one fits."""

    def __init__(self, *, sampler: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if sampler is not None:
            self.config_generator = sampler(kwargs["configspace"], self.config_generator)

    def sample(self, config_id: ConfigId, budget: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """The configuration (and its info) that will be logged under ``config_id``."""
        config, info = self.config_generator.get_config(budget)
        return plain(config), plain(info)

    def logged_result(self, config_id: ConfigId, budget: float) -> tuple[dict[str, float], dict[str, Any]] | None:
        """(timestamps, result) of an evaluation that need not run again, or None to submit it."""
        return None

    def before_result(self, job: Job) -> bool:
        """Sees a returned job first; False when it was dealt with (e.g. submitted again)."""
        return True

    def after_result(self, job: Job) -> None:
        """Sees a job after hpbandster registered it."""

    def get_next_iteration(self, iteration, iteration_kwargs={}):
        it = super().get_next_iteration(iteration, iteration_kwargs)
        it.config_sampler = lambda budget: self.sample((it.HPB_iter, it.stage, it.actual_num_configs[it.stage]), budget)
        return it

    def _submit_job(self, config_id, config, budget):
        logged = self.logged_result(tuple(config_id), float(budget))
        if logged is None:
            return super()._submit_job(config_id, config, budget)
        job = Job(config_id, config=config, budget=budget, working_directory=self.working_directory)
        job.timestamps, job.result, job.exception = dict(logged[0]), logged[1], None
        job.replayed = True
        with self.thread_cond:
            self.num_running_jobs += 1
        self.job_callback(job)

    def job_callback(self, job: Job) -> None:
        if self.before_result(job):
            super().job_callback(job)
            self.after_result(job)
