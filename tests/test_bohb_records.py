"""records: the typed evaluation read from any worker's result dict, written back in the same format."""

from __future__ import annotations

import json
import math

import pytest

from bohb_das.bohb.compat import FAILED_LOSS
from bohb_das.bohb.records import Evaluation, EvaluationInfo, SeedResult
from bohb_das.bohb.rundir import LoggedResult

#: A results.json result as bohb-das wrote it before the records were typed (two seeds, one failed).
LOGGED = {
    "loss": -21.5,
    "info": {
        "target": "arch", "quantile": 0.5, "status": "partial", "reason": "loss diverged (nan)",
        "one_shot_psnr": 20.25, "arch_psnr": 21.5, "backprojection_psnr": 14.18,
        "genotype": {"space": "sequential", "ops": ["net", "learnable_gd"]}, "seconds": 12.5, "device": "cpu (x86_64)",
        "trials": [
            {"seed": 0, "status": "ok", "reason": None, "one_shot_psnr": 20.25, "arch_psnr": 21.5},
            {"seed": 1, "status": "failed", "reason": "loss diverged (nan)", "one_shot_psnr": None, "arch_psnr": None},
        ],
    },
}


def test_a_logged_result_reads_typed_and_writes_back_byte_identical():
    evaluation = Evaluation.from_result(json.loads(json.dumps(LOGGED)))
    assert evaluation.loss == -21.5 and not evaluation.failed
    assert evaluation.info.status == "partial" and evaluation.info.genotype["ops"] == ["net", "learnable_gd"]
    assert evaluation.info.trials[1] == SeedResult(1, "failed", "loss diverged (nan)", None, None)
    assert json.dumps(evaluation.to_result()) == json.dumps(LOGGED)  # key order included


@pytest.mark.parametrize("loss", [None, math.nan, math.inf, "oops", 1e9])
def test_a_missing_or_non_finite_loss_becomes_the_failed_loss(loss):
    evaluation = Evaluation.from_result({"loss": loss, "info": {"one_shot_psnr": math.nan}})
    assert evaluation.loss == FAILED_LOSS and evaluation.failed
    result = evaluation.to_result()
    assert result["info"]["one_shot_psnr"] is None
    json.dumps(result, allow_nan=False)


def test_a_custom_objectives_own_info_keys_are_kept():
    evaluation = Evaluation.from_result({"loss": 2.0, "info": {"status": "ok", "my_metric": [1, 2]}})
    assert evaluation.info == EvaluationInfo(status="ok", extra={"my_metric": [1, 2]})
    assert evaluation.to_result()["info"]["my_metric"] == [1, 2]
    assert Evaluation.from_result({"loss": 2.0}).info == EvaluationInfo()  # no info at all


def test_anything_but_a_dict_is_refused_in_one_line():
    with pytest.raises(TypeError, match=r"^worker returned list, not a dict$"):
        Evaluation.from_result([1.0])


def test_a_psnr_not_measured_is_none_in_memory_as_in_json():
    seed = SeedResult(0, "ok", None, 21.0, math.nan)  # a one-shot study without retraining
    assert seed.arch_psnr is None and EvaluationInfo(arch_psnr=math.nan).arch_psnr is None


def test_a_crashed_logged_result_has_no_evaluation():
    crashed = LoggedResult((0, 0, 0), 1.0, {"started": 1.0}, None, "Traceback ...")
    finished = LoggedResult((0, 0, 0), 1.0, {"started": 1.0}, LOGGED, None)
    assert crashed.evaluation is None and finished.evaluation.info.arch_psnr == 21.5
