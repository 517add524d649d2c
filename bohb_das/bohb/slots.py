"""Several jobs of one worker process trained together: the jobs its slots receive are gathered
briefly and those of one budget evaluated in one call (one model, HFTA-style).

hpbandster's dispatcher hands each registered worker one job at a time, and Hyperband submits a
rung's configurations together, so K workers registered by one process (``--slots K``) receive up
to K jobs within milliseconds; each slot's ``compute`` thread waits here for its own result. A slot
is an ordinary hpbandster worker to master and dispatcher (``compat`` only makes the dispatcher
spread a rung over processes), and a killed process loses all its slots' jobs, which the master
re-queues like any lost job.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from bohb_das.bohb.records import Evaluation

#: ``evaluate_jobs(configs, budget) -> one evaluation per config``
EvaluateJobs = Callable[[list[dict[str, Any]], float], list[Evaluation]]

#: How long the first job of a gathering waits at most for the others of its rung (seconds), and the
#: pause after the latest job that closes the gathering sooner: the dispatcher (``compat``) starts a
#: rung's jobs within milliseconds of each other once they are submitted.
GATHER_WINDOW_S = 2.0
GATHER_QUIET_S = 0.3


@dataclass(eq=False)
class _Job:
    config: dict[str, Any]
    budget: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Evaluation | None = None
    error: BaseException | None = None


class Gatherer:
    """Evaluates the jobs of ``slots`` concurrent callers, those of equal budget together; with one
    slot every job runs at once on its own."""

    def __init__(self, evaluate_jobs: EvaluateJobs, slots: int, window: float = GATHER_WINDOW_S,
                 on_batch: Callable[[int, float, float], None] | None = None, quiet: float = GATHER_QUIET_S) -> None:
        self.evaluate_jobs, self.slots, self.window, self.on_batch = evaluate_jobs, slots, window, on_batch
        self.quiet = quiet
        self._pending: list[_Job] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._serve, name="slot gatherer", daemon=True).start()

    def __call__(self, config: dict[str, Any], budget: float) -> Evaluation:
        """The result of one job (blocks the calling slot until its batch is done)."""
        job = _Job(config, budget)
        with self._changed:
            self._pending.append(job)
            self._changed.notify_all()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _next_batch(self) -> list[_Job]:
        with self._changed:
            self._changed.wait_for(lambda: self._pending)
            deadline = time.monotonic() + self.window
            while len(self._pending) < self.slots and time.monotonic() < deadline:
                seen = len(self._pending)
                timeout = min(self.quiet, deadline - time.monotonic())
                if not self._changed.wait_for(lambda: len(self._pending) > seen, timeout=timeout):
                    break  # no new job for a while: the rung has arrived
            budget = self._pending[0].budget
            batch = [job for job in self._pending if job.budget == budget]
            self._pending = [job for job in self._pending if job.budget != budget]
        return batch

    def _serve(self) -> None:
        while True:
            batch = self._next_batch()
            start = time.monotonic()
            try:
                results = self.evaluate_jobs([job.config for job in batch], batch[0].budget)
                for job, result in zip(batch, results, strict=True):
                    job.result = result
            except BaseException as exc:  # every waiting slot reports it to the master
                for job in batch:
                    job.error = exc
            if self.on_batch is not None:
                self.on_batch(len(batch), batch[0].budget, time.monotonic() - start)
            for job in batch:
                job.done.set()
