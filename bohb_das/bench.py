"""Throughput of batched trials against the same trials run one by one, measured in one run.

The machines this runs on are shared and noisy, so every figure that matters is a ratio of two
timings taken in the same process minutes apart: trial-steps per second of a batch of T trials
against a single trial's (a trial's cost does not depend on its seed, so the one-by-one rate of T
trials is the rate of one). A search step is one alpha step plus one weight step; a retraining step
is one weight step of a discrete architecture. The paper-scale figure extrapolates the measured
step times to 50 + 50 epochs and adds the two measured validation passes.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from bohb_das.formations import get_formation
from bohb_das.hparams import HParams
from bohb_das.operations import get_op_set
from bohb_das.profiles import Profile, load_profile
from bohb_das.rng import TrialStreams
from bohb_das.search import ArchitectureStep
from bohb_das.search_spaces import get_space
from bohb_das.training import STEPS_PER_EPOCH, Failures, Problem, build, evaluate, train

PAPER_EPOCHS = 50


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

    def to_dict(self) -> dict:
        return asdict(self)


def _timed_steps(phase: str, seeds: Sequence[int], space: str, ops: str, width: int, epochs: int,
                 device: torch.device, profile: Profile) -> tuple[float, float]:
    """Seconds per step of ``phase`` for the trials ``seeds`` batched, and seconds per evaluation."""
    problem = Problem(get_formation("blur", profile), seeds, "bench-data", device, torch.float32)
    space_cls = get_space(space)
    model = build(space_cls, get_op_set(ops), problem, width, "bench-init")
    failures = Failures.none(len(seeds))
    hp = HParams(alpha_warmup=False)
    shape = (len(seeds), len(space_cls.edges), len(model.candidates))
    if phase == "search":
        alpha = nn.Parameter(torch.zeros(shape, device=device))
        arch_step = ArchitectureStep(model, alpha, problem.derived("bench-alpha"), hp, failures)
        weights: Callable[[], torch.Tensor] = lambda: arch_step.mixing().detach()
    else:
        arch_step = None
        choice = TrialStreams(seeds, "bench-genotype").stack(lambda g: torch.randint(shape[2], shape[1:2], generator=g))
        one_hot = nn.functional.one_hot(choice, shape[2]).to(device=device, dtype=torch.float32)
        weights = lambda: one_hot
    run = lambda n: train(model, weights, problem, hp, n, failures, "bench", before_step=arch_step)
    run(1)  # warm-up: allocator, kernel load, first-touch
    _sync(device)
    start = time.perf_counter()
    run(epochs)
    _sync(device)
    step = (time.perf_counter() - start) / (epochs * STEPS_PER_EPOCH)
    start = time.perf_counter()
    evaluate(model, weights(), problem)
    _sync(device)
    return step, time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_bench(
    trial_counts: Sequence[int] = (1, 8, 32),
    device: torch.device = torch.device("cpu"),
    width: int = 32,
    epochs: int = 2,
    space: str = "sequential",
    ops: str = "all",
    paper_batch: int = 8,
    progress: Callable[[str], None] | None = None,
    profile: Profile | None = None,
) -> BenchReport:
    """Measures search and retraining throughput for each T in ``trial_counts`` (and for T = 1), under
    ``profile`` (default: the default profile)."""
    from bohb_das.kernels import fused_available

    profile = load_profile(profile)
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
    (search_step, search_eval), (retrain_step, retrain_eval) = timings["search", paper_batch], timings["retrain", paper_batch]
    paper = (PAPER_EPOCHS * STEPS_PER_EPOCH * (search_step + retrain_step) + search_eval + retrain_eval) / paper_batch
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu {platform.processor() or platform.machine()}"
    return BenchReport(rows, paper, paper_batch, name, fused_available(device), torch.get_num_threads(), width,
                       torch.__version__, profile.name)
