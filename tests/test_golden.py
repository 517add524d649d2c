"""Pinned trial numbers, in float64, per profile.

``spec-v1`` must give the numbers that every trial made before profiles existed gave (pinned from
main at c6945c4); ``paper``'s are pinned from computation version 2. A failure here means a change moved trial numbers: if that is intended, bump
``bohb_das.trial.COMPUTATION_VERSION`` (so that cached trials are recomputed, not reused) and re-pin.
"""

import pytest
import torch

from bohb_das.hparams import load_preset
from bohb_das.trial import TrialSpec, run_trials

SEQ = "sequential"
GOLDEN = {
    ("spec-v1", "das"): {
        3: (20.223123854826422, 25.709508216576662,
            ("noise", "roll", "net", "net", "net", "roll", "learnable_gd", "net", "net", "net")),
        4: (16.48323327775112, 24.813944933854163,
            ("learnable_gd", "net", "net", "roll", "net", "roll", "net", "net", "learnable_gd", "net")),
    },
    ("spec-v1", "random_search"): {
        3: (None, 25.570230881594124,
            ("learnable_gd", "net", "learnable_gd", "roll", "learnable_gd", "roll", "roll", "net", "noise", "net")),
        4: (None, 19.160548439081733,
            ("noise", "roll", "noise", "roll", "learnable_gd", "net", "roll", "roll", "net", "learnable_gd")),
    },
    ("paper", "das"): {
        3: (14.86046124015118, 14.00858504826902,
            ("learnable_gd", "net", "net", "net", "net", "roll", "learnable_gd", "net", "roll", "net")),
        4: (14.244061554455126, 10.154998132778069,
            ("learnable_gd", "noise", "roll", "roll", "roll", "roll", "net", "roll", "net", "roll")),
    },
    ("paper", "random_search"): {
        3: (None, 14.079701353318635,
            ("learnable_gd", "net", "learnable_gd", "roll", "learnable_gd", "roll", "roll", "net", "noise", "net")),
        4: (None, 11.514955309272384,
            ("roll", "net", "net", "noise", "net", "net", "noise", "learnable_gd", "net", "learnable_gd")),
    },
}


@pytest.mark.parametrize("profile, method", sorted(GOLDEN))
def test_trial_numbers_are_pinned(profile, method):
    spec = TrialSpec(formation="blur", ops="all", space=SEQ, method=method, epochs=2, width=8,
                     hparams=load_preset("H1"), k=2 if method == "random_search" else None, profile=profile)
    results = run_trials(spec, [3, 4], "cpu", dtype=torch.float64)
    for result in results:
        one_shot, arch, ops = GOLDEN[profile, method][result.seed]
        assert result.status == "ok" and tuple(result.genotype["ops"]) == ops
        assert result.arch_psnr == pytest.approx(arch, rel=1e-9, abs=0)
        if one_shot is not None:
            assert result.one_shot_psnr == pytest.approx(one_shot, rel=1e-9, abs=0)
