"""The run definition: TrialSpec, the BOHB study and the table grid are built from one type."""

from dataclasses import fields

import pytest

from bohb_das.bohb.study import Study
from bohb_das.errors import ConfigError
from bohb_das.experiment import Experiment
from bohb_das.hparams import HParams
from bohb_das.tables import Grid
from bohb_das.trial import TrialSpec

DEFINITION = dict(formation="downsampling", ops="good", space="cell", method="das", width=6, profile="spec-v1", retrain=False)


def test_a_study_and_a_grid_hand_their_whole_definition_to_each_trial():
    definition = Experiment(**DEFINITION)
    study = Study(**DEFINITION, target="one-shot")
    assert study.definition() == definition.definition()
    assert study.trial_spec(3, {}).definition() == definition.definition()
    grid = Grid(hparams=[("H1", HParams())], formations=["downsampling"], ops=["good"], spaces=["cell"],
                methods=["das"], trials=1, epochs=3, definition=definition, profiles=[definition.profile])
    spec = grid.spec("das", HParams(), "downsampling", "good", "cell", definition.profile)
    assert spec.definition() == definition.definition() and spec.epochs == 3
    assert {f.name for f in fields(Experiment)} <= {f.name for f in fields(TrialSpec)} & {f.name for f in fields(Study)}


@pytest.mark.parametrize("kind", [Experiment, TrialSpec, Study])
@pytest.mark.parametrize("values, message", [
    ({"formation": "nope"}, "unknown formation"),
    ({"width": 0}, "width"),
    ({"retrain": "no"}, "retrain must be true or false"),
    ({"method": "random", "retrain": False}, "--no-retrain needs a searching method"),
])
def test_every_shape_refuses_a_bad_definition_alike(kind, values, message):
    with pytest.raises(ConfigError, match=message):
        kind(**values)
