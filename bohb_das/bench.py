"""Throughput of batched trials against the same trials run one by one, measured in one run.

The machines this runs on are shared and noisy, so every figure that matters is a ratio of two
timings taken in the same process minutes apart: trial-steps per second of a batch of T trials
against a single trial's (a trial's cost does not depend on its seed, so the one-by-one rate of T
trials is the rate of one). A search step is one alpha step plus one weight step; a retraining step
is one weight step of a discrete architecture. The paper-scale figure extrapolates the measured
step times to 50 + 50 epochs and adds the two measured validation passes; the study estimates
(Table 1 at 75 trials a cell, a 128-iteration paper-scale BOHB run) build on those figures. The
machine's load average is recorded before and after: a ratio taken under load is not a result.
"""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from bohb_das.hparams import HParams
from bohb_das.operations import OP_SETS
from bohb_das.problems import get_problem
from bohb_das.profiles import Profile, load_profile
from bohb_das.rng import TrialStreams
from bohb_das.search import ArchitectureStep
from bohb_das.search_spaces import SPACES
from bohb_das.training import STEPS_PER_EPOCH, Failures, TrialData, build, evaluate, train

PAPER_EPOCHS = 50
#: Table 1's paper-scale searches and retrainings per seed, both formations: DAS searches with the good
#: and with all operations; retrainings: good ops GD-only, nets-only, random, DAS and random search
#: (k = 5), all ops random, DAS and random search: 2 x (1 + 1 + 1 + 1 + 5 + 1 + 1 + 5) = 32. A search
#: costs about 2.7 retrainings (an alpha and a weight step per step), so the two are costed apart.
TABLE1_SEARCHES = 4
TABLE1_RETRAININGS = 32
TABLE1_TRIALS = 75
#: The paper's BOHB runs: 128 iterations, budgets 50/9 .. 50 epochs, eta 3.
PAPER_BOHB = dict(iterations=128, min_budget=50 / 9, max_budget=50.0, eta=3.0)


@dataclass
class BenchRow:
    phase: str  # "search" | "retrain"
    trials: int
    batched_steps_per_s: float  # trial-steps per second, T trials in one model
    single_steps_per_s: float  # trial-steps per second, one trial at a time
    speedup: float


@dataclass
class BenchReport:
    rows: list[BenchRow]
    paper_trial_seconds: float  # one 50+50-epoch trial, amortized in a batch of ``paper_batch``
    paper_batch: int
    device: str
    fused_kernel: bool
    threads: int
    width: int
    torch_version: str
    profile: str
    trial_seconds: dict[int, float]  # one paper-scale trial amortized in a batch of T, per measured T
    table1_hours: float  # Table 1, 75 trials a cell, at the largest measured T, one process
    bohb_hours: dict[str, float]  # 128-iteration BOHB on ``processes`` processes (``bohb_estimate``'s four figures)
    processes: int
    load: tuple[float, float]  # 1-minute load average before and after

    def to_dict(self) -> dict:
        return asdict(self)


def _timed_steps(phase: str, seeds: Sequence[int], space: str, ops: str, width: int, epochs: int,
                 device: torch.device, profile: Profile) -> tuple[float, float]:
    """Seconds per step of ``phase`` for the trials ``seeds`` batched, and seconds per evaluation."""
    data = TrialData(get_problem("blur", profile), seeds, "bench-data", device, torch.float32)
    space_cls = SPACES[space]
    model = build(space_cls, OP_SETS[ops], data, width, "bench-init")
    failures = Failures.none(len(seeds))
    hp = HParams(alpha_warmup=False)
    shape = (len(seeds), *model.alpha_shape())
    if phase == "search":
        alpha = nn.Parameter(torch.zeros(shape, device=device))
        arch_step = ArchitectureStep(model, alpha, data.derived("bench-alpha"), hp, failures)
        weights: Callable[[], torch.Tensor] = lambda: arch_step.mixing().detach()
    else:
        arch_step = None
        choice = TrialStreams(seeds, "bench-genotype").stack(lambda g: torch.randint(shape[2], shape[1:2], generator=g))
        one_hot = model.fix(model.discretize(nn.functional.one_hot(choice, shape[2])))
        weights = lambda: one_hot
    run = lambda n: train(model, weights, data, hp, n, failures, "bench", before_step=arch_step)
    run(1)  # warm-up: allocator, kernel load, first-touch
    _sync(device)
    start = time.perf_counter()
    run(epochs)
    _sync(device)
    step = (time.perf_counter() - start) / (epochs * STEPS_PER_EPOCH)
    start = time.perf_counter()
    evaluate(model, weights(), data)
    _sync(device)
    return step, time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_bench(
    trial_counts: Sequence[int] = (1, 8, 32, 75),
    device: torch.device = torch.device("cpu"),
    width: int = 32,
    epochs: int = 2,
    space: str = "sequential",
    ops: str = "all",
    paper_batch: int = 8,
    progress: Callable[[str], None] | None = None,
    profile: Profile | None = None,
    processes: int = 2,
) -> BenchReport:
    """Measures search and retraining throughput for each T in ``trial_counts`` (and for T = 1), under
    ``profile`` (default: the default profile)."""
    from bohb_das.kernels import fused_available

    profile = load_profile(profile)
    load_before = os.getloadavg()[0]
    counts = sorted(set(trial_counts) | {1, paper_batch})
    timings: dict[tuple[str, int], tuple[float, float]] = {}
    for phase in ("search", "retrain"):
        for t in counts:
            if progress:
                progress(f"{phase} T={t}")
            timings[phase, t] = _timed_steps(phase, list(range(t)), space, ops, width, epochs, device, profile)
    rows = []
    for phase in ("search", "retrain"):
        single = 1 / timings[phase, 1][0]
        for t in sorted(set(trial_counts)):
            batched = t / timings[phase, t][0]
            rows.append(BenchRow(phase, t, batched, single, batched / single))
    job = lambda trials, epochs: job_seconds(timings, trials, epochs)
    trial_seconds = {t: job(t, PAPER_EPOCHS) / t for t in counts}
    table1 = table1_hours(timings, max(counts))
    bohb = {**bohb_estimate(job, processes),
            **{f"{k}, no retraining": v for k, v in bohb_estimate(
                lambda trials, epochs: job_seconds(timings, trials, epochs, ("search",)), processes).items()}}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu {platform.processor() or platform.machine()}"
    return BenchReport(rows, trial_seconds[paper_batch], paper_batch, name, fused_available(device),
                       torch.get_num_threads(), width, torch.__version__, profile.name, trial_seconds, table1, bohb,
                       processes, (load_before, os.getloadavg()[0]))


def phase_seconds(timings: dict[tuple[str, int], tuple[float, float]], phase: str, trials: int, epochs: int) -> float:
    """Seconds of ``epochs`` epochs of ``phase`` and its evaluation for a batch of ``trials`` trials: the
    step and evaluation times measured at T = ``trials``, interpolated linearly between measured batch
    sizes (beyond the largest, in proportion to T)."""
    measured = sorted({t for _, t in timings})
    if trials in measured:
        step, evaluation = timings[phase, trials]
    else:
        lower = max(t for t in measured if t < trials)
        upper = min((t for t in measured if t > trials), default=None)
        step, evaluation = timings[phase, lower]
        if upper is None:
            step, evaluation = step * trials / lower, evaluation * trials / lower
        else:
            w = (trials - lower) / (upper - lower)
            next_step, next_evaluation = timings[phase, upper]
            step, evaluation = step + w * (next_step - step), evaluation + w * (next_evaluation - evaluation)
    return epochs * STEPS_PER_EPOCH * step + evaluation


def job_seconds(timings: dict[tuple[str, int], tuple[float, float]], trials: int, epochs: int,
                phases: tuple[str, ...] = ("search", "retrain")) -> float:
    """Seconds of one batch of ``trials`` trials of ``epochs`` epochs of each of ``phases``."""
    return sum(phase_seconds(timings, phase, trials, epochs) for phase in phases)


def table1_hours(timings: dict[tuple[str, int], tuple[float, float]], trials: int) -> float:
    """Hours of the paper's Table 1 at paper scale, 75 trials a cell, in batches of ``trials`` in one process."""
    batch = (TABLE1_SEARCHES * phase_seconds(timings, "search", trials, PAPER_EPOCHS)
             + TABLE1_RETRAININGS * phase_seconds(timings, "retrain", trials, PAPER_EPOCHS))
    return TABLE1_TRIALS / trials * batch / 3600


def hyperband_rungs(iterations: int, min_budget: float, max_budget: float, eta: float) -> list[tuple[int, int]]:
    """(configurations, epochs) of every rung of hpbandster's BOHB schedule."""
    brackets = int(round(math.log(max_budget / min_budget, eta))) + 1
    rungs = []
    for i in range(iterations):
        s = brackets - 1 - i % brackets
        n0 = int(brackets // (s + 1) * eta**s)
        for k in range(s + 1):
            rungs.append((max(int(n0 * eta ** (-k)), 1), max(1, round(max_budget * eta ** (k - s)))))
    return rungs


def bohb_estimate(job: Callable[[int, int], float], processes: int) -> dict[str, float]:
    """Hours of a paper-scale BOHB run on ``processes`` worker processes, the rungs one after another
    (hpbandster overlaps iterations, so both figures are upper bounds; their ratio is the point):
    one job per worker (a rung of n configurations takes ceil(n / processes) jobs in turn), or each
    rung's configurations split evenly over the processes and trained together."""
    rungs = hyperband_rungs(**PAPER_BOHB)
    single = sum(math.ceil(n / processes) * job(1, epochs) for n, epochs in rungs)
    batched = sum(job(math.ceil(n / processes), epochs) for n, epochs in rungs)
    return {"one job per worker": single / 3600, "rungs batched": batched / 3600}
