"""Statistics over trials: what the paper's tables report (max / mean / median PSNR over trials)."""

from __future__ import annotations

import math
import statistics
from typing import Iterable, Mapping


def summarize(values: Iterable[float]) -> dict[str, float | int]:
    """Max, mean and median of the finite values; ``n`` counts them, ``failed`` the others."""
    values = list(values)
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"n": 0, "failed": len(values), "max": math.nan, "mean": math.nan, "median": math.nan}
    return {
        "n": len(finite),
        "failed": len(values) - len(finite),
        "max": max(finite),
        "mean": statistics.fmean(finite),
        "median": statistics.median(finite),
    }


def trial_summary(trials: Iterable[Mapping[str, object]]) -> dict[str, dict[str, float | int]]:
    """Summaries of both targets over trial records (``TrialResult.to_dict()`` or their JSON)."""
    trials = list(trials)

    def column(key: str) -> list[float]:
        return [math.nan if t.get(key) is None else float(t[key]) for t in trials]  # type: ignore[arg-type]

    return {"one_shot_psnr": summarize(column("one_shot_psnr")), "arch_psnr": summarize(column("arch_psnr"))}
