"""Trials with different hyperparameters in one batch (a BOHB rung trained in one model): each
trial's result equals running it alone with the same seed, in float64."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams
from bohb_das.optim import blocks_of, grouped_order
from bohb_das.trial import TrialSpec, run_trials

# Adam and plain-GD alpha, with and without alpha warm-up (some trials rest while others step),
# weight warm-up, linear and constant schedules, other learning rates and decays. Alpha rates stay
# moderate: plain GD at 0.05 on the summed loss is chaotic, and the last-bit differences of a
# differently sized batch (BLAS blocking) grow to 1e-2 dB within one epoch.
ADAM = HParams(alpha_optimizer="adam", alpha_lr=0.01, alpha_warmup=False, weight_warmup=True)
GD = HParams()
GD_FAST = HParams(alpha_lr=2e-3, alpha_scheduler="none", weight_lr=3e-3, weight_decay=1e-4, alpha_decay=0.0)


def assert_each_equals_alone(spec: TrialSpec, seeds: list[int], hparams: list[HParams]) -> list:
    together = run_trials(spec, seeds, dtype=torch.float64, hparams=hparams)
    for result, seed, hp in zip(together, seeds, hparams):
        (alone,) = run_trials(replace(spec, hparams=hp), [seed], dtype=torch.float64)
        assert result.seed == seed and result.spec == alone.spec and result.spec.hparams == hp
        assert result.status == alone.status == "ok"
        assert result.genotype == alone.genotype
        assert result.one_shot_psnr == pytest.approx(alone.one_shot_psnr, abs=1e-8, nan_ok=True)  # NaN: no supernet
        assert result.arch_psnr == pytest.approx(alone.arch_psnr, abs=1e-8)
        assert torch.allclose(torch.tensor(result.alphas), torch.tensor(alone.alphas), atol=1e-10)
    return together


@pytest.mark.parametrize("space", ["sequential", "cell"])
def test_mixed_table7_hyperparameters_in_one_batch_equal_each_alone(space):
    spec = TrialSpec(space=space, epochs=1, width=4)
    # equal hyperparameters not adjacent and one seed under two sets: the runner groups and restores order
    together = assert_each_equals_alone(spec, [5, 5, 6], [ADAM, GD_FAST, ADAM])
    assert len({r.one_shot_psnr for r in together}) == 3


@pytest.mark.parametrize("method", ["darts2", "zarts_rs"])
def test_mixed_hyperparameters_beyond_the_paper_equal_each_alone(method):
    # darts2: each trial unrolls with its own weight lr; zarts_rs: replicas made while some trials rest
    spec = TrialSpec(method=method, epochs=1, width=4, hparams=HParams.from_mapping(dict(zo_samples=2, zo_inner_steps=1)))
    mixed = [HParams.from_mapping(dict(zo_samples=2, zo_inner_steps=1), defaults=hp) for hp in (GD_FAST, ADAM)]
    assert_each_equals_alone(spec, [3, 3], mixed)


def test_random_search_retrains_each_trial_with_its_own_weight_hyperparameters():
    spec = TrialSpec(method="random_search", k=2, epochs=1, width=4)
    assert_each_equals_alone(spec, [1, 2], [GD, GD_FAST])


def test_a_batch_that_cannot_train_together_is_refused():
    spec = TrialSpec(epochs=1, width=4)
    with pytest.raises(ConfigError, match="agree on relaxation"):
        run_trials(spec, [1, 2], hparams=[GD, replace(GD, relaxation="sparsemax")])
    with pytest.raises(ConfigError, match="differ in their seed or their hyperparameters"):
        run_trials(spec, [1, 1], hparams=[GD, GD])
    with pytest.raises(ConfigError, match="3 hyperparameter sets for 2 trials"):
        run_trials(spec, [1, 2], hparams=[GD, GD, GD])
    with pytest.raises(ConfigError, match="contiguous"):
        blocks_of([GD, ADAM, GD])


def test_grouped_order_keeps_first_seen_order_and_is_stable():
    assert grouped_order([ADAM, GD, ADAM, GD_FAST, GD]) == [0, 2, 1, 4, 3]
