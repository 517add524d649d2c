"""Configurations per minute of a small fixed BOHB schedule: one job per worker against ``--slots K``.

Both runs use the same study (seed, budgets, width), the same number of worker processes and
loopback; the only difference is how many jobs a worker process takes at once. The schedule is one
Hyperband bracket of budgets 1, 3, 9 epochs (9, 3 and 1 configurations), so its first rung can fill
up to 9 slots.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bohb_das.bohb.master import optimize
from bohb_das.bohb.study import Study
from bohb_das.profiles import Profile

SCHEDULE = dict(iterations=1, min_budget=1.0, max_budget=9.0, eta=3.0)


@dataclass
class SlotsRun:
    slots: int
    workers: int
    results: int
    seconds: float

    @property
    def configs_per_minute(self) -> float:
        return 60 * self.results / self.seconds


@dataclass
class SlotsComparison:
    single: SlotsRun
    slotted: SlotsRun
    width: int

    @property
    def ratio(self) -> float:
        return self.slotted.configs_per_minute / self.single.configs_per_minute

    def to_dict(self) -> dict:
        return {**asdict(self), "single_configs_per_minute": self.single.configs_per_minute,
                "slotted_configs_per_minute": self.slotted.configs_per_minute, "ratio": self.ratio,
                "schedule": SCHEDULE}


def timed_run(study: Study, workers: int, slots: int, device: str) -> SlotsRun:
    with tempfile.TemporaryDirectory(prefix="bohb-das-bench-") as folder:
        start = time.perf_counter()
        report = optimize(Path(folder) / "run", study, n_workers=workers, worker_options={"slots": slots},
                          device=device, ping_interval=1, comm_timeout=30)
        return SlotsRun(slots, workers, report["n_results"], time.perf_counter() - start)


def compare_slots(slots: int, workers: int, width: int, device: str, profile: Profile) -> SlotsComparison:
    """The schedule with ``workers`` single-slot workers, then with ``workers`` x ``slots``."""
    study = Study(width=width, profile=profile, **SCHEDULE)
    return SlotsComparison(timed_run(study, workers, 1, device), timed_run(study, workers, slots, device), width)
