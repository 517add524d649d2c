"""Trilevel NAS's one phase (``das_one_phase``): the searched supernet's weights are inherited and
fine-tuned; nothing is retrained from scratch."""

from dataclasses import replace

import pytest
import torch

from bohb_das import methods
from bohb_das.hparams import HParams
from bohb_das.methods import fine_tune
from bohb_das.operations import OP_SETS
from bohb_das.search import das_search
from bohb_das.search_spaces import SPACES
from bohb_das.training import Failures, TrialData
from bohb_das.trial import TrialSpec, run_trials
from bohb_das.problems import get_problem

HP = HParams(alpha_warmup=False, alpha_optimizer="adam", alpha_lr=0.05)
SPEC = TrialSpec(method="das_one_phase", ops="all", epochs=1, width=4, hparams=HP)


def built_networks(monkeypatch) -> list[str]:
    """The streams every network of a trial is freshly built from, recorded as the trial runs."""
    streams: list[str] = []
    real = methods.build

    def recording(space, candidates, data, width, stream):
        streams.append(stream)
        return real(space, candidates, data, width, stream)

    monkeypatch.setattr(methods, "build", recording)
    monkeypatch.setattr("bohb_das.search.build", recording)
    return streams


def test_a_one_phase_trial_builds_only_the_supernet_and_das_also_the_retrained_network(monkeypatch):
    streams = built_networks(monkeypatch)
    run_trials(SPEC, [0])
    assert streams == ["search-init"]
    streams.clear()
    run_trials(replace(SPEC, method="das"), [0])
    assert streams == ["search-init", "retrain-init"]


def test_one_phase_searches_as_das_and_fine_tunes_the_searched_supernet():
    (one_phase,) = run_trials(SPEC, [3], dtype=torch.float64)
    (das,) = run_trials(replace(SPEC, method="das"), [3], dtype=torch.float64)
    assert one_phase.genotype == das.genotype and one_phase.alphas == das.alphas
    assert one_phase.one_shot_psnr == das.one_shot_psnr
    assert one_phase.arch_psnr != pytest.approx(das.arch_psnr, abs=1e-3)  # other starting weights

    # by hand: the same search, then the fine-tuning of its own supernet on the retraining's data
    data = TrialData(get_problem("blur", SPEC.profile), [3], "search-data", "cpu", torch.float64)
    found = das_search(SPACES["sequential"], OP_SETS["all"], data, HP, 1, 4, Failures.none(1))
    (psnr,), (reason,) = fine_tune(found.supernet, found.genotypes, data.derived("retrain-data"), SPEC, [HP])
    assert reason is None and one_phase.arch_psnr == pytest.approx(psnr, abs=1e-10)


def test_without_retraining_a_one_phase_trial_does_not_fine_tune(monkeypatch):
    tuned: list[int] = []
    monkeypatch.setattr(methods, "fine_tune", lambda *args, **kwargs: tuned.append(1))
    (result,) = run_trials(replace(SPEC, retrain=False), [0])
    assert result.status == "ok" and result.arch_psnr != result.arch_psnr and not tuned  # NaN: not measured
