"""Cheap, deterministic objectives for the BOHB harness tests (worker subprocesses import them).

They exercise the whole master/worker machinery in seconds; the real DAS objective has its own
end-to-end test. Behaviour is chosen by the ``weight_lr`` of the config and by environment variables,
so that a test can make one job slow, or return NaN, without any mock of hpbandster.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path


def quadratic(study, config, budget, device):
    """loss = (log10(weight_lr) + 2)^2 / budget; sleeps BOHB_TEST_SLEEP * budget seconds.

    A job creates the file BOHB_TEST_MARK names, and waits (up to 60 s) for the file BOHB_TEST_AWAIT
    names: a test that needs jobs on a late worker orders its workers so instead of racing them.
    """
    if os.environ.get("BOHB_TEST_MARK"):
        Path(os.environ["BOHB_TEST_MARK"]).touch()
    if os.environ.get("BOHB_TEST_AWAIT"):
        awaited, deadline = Path(os.environ["BOHB_TEST_AWAIT"]), time.monotonic() + 60
        while not awaited.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    time.sleep(float(os.environ.get("BOHB_TEST_SLEEP", "0")) * budget)
    loss = (math.log10(config["weight_lr"]) + 2.0) ** 2 / budget
    return {"loss": loss, "info": {"status": "ok", "one_shot_psnr": -loss, "arch_psnr": -loss,
                                   "genotype": {"layers": ["net"]}, "seconds": 0.0}}


def always_nan(study, config, budget, device):
    """Every evaluation diverges."""
    return {"loss": float("nan"), "info": {"status": "failed", "reason": "non-finite loss"}}


def nan_sometimes(study, config, budget, device):
    """NaN for every config whose weight_lr is above 0.01, otherwise :func:`quadratic`."""
    if config["weight_lr"] > 0.01:
        return {"loss": float("nan"), "info": {"status": "failed", "one_shot_psnr": float("nan")}}
    return quadratic(study, config, budget, device)
