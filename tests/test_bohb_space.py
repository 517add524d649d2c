"""The Table-7 space file, conditional entries, the shipped presets, and malformed files."""

from __future__ import annotations

import textwrap

import pytest
from ConfigSpace import CategoricalHyperparameter, Configuration, UniformFloatHyperparameter

from bohb_das.bohb import compat
from bohb_das.bohb.configspace import DEFAULT_SPACE, load_space
from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams, load_preset, preset_names

compat.install()

TABLE7 = {
    "weight_lr": (1e-5, 1.0), "weight_decay": (1e-8, 0.1), "alpha_lr": (1e-5, 0.1), "alpha_decay": (1e-5, 0.1),
}
CATEGORIES = {
    "weight_warmup": {True, False}, "alpha_warmup": {True, False},
    "alpha_scheduler": {"none", "linear"}, "alpha_optimizer": {"adam", "gd"},
}
PRESETS = {
    "H1": dict(weight_lr=1e-3, weight_decay=1e-8, weight_warmup=False, alpha_lr=1e-3, alpha_decay=1e-3,
               alpha_warmup=True, alpha_scheduler="linear", alpha_optimizer="gd"),
    "H2": dict(weight_lr=1e-3, weight_decay=1e-8, weight_warmup=False, alpha_lr=1e-4, alpha_decay=1e-4,
               alpha_warmup=True, alpha_scheduler="linear", alpha_optimizer="gd"),
    "bohb-one-shot-blur": dict(weight_lr=0.0014232405, weight_decay=8.616e-07, weight_warmup=False,
                               alpha_lr=0.0836808765, alpha_decay=5.05099e-05, alpha_warmup=False,
                               alpha_scheduler="linear", alpha_optimizer="adam"),
    "bohb-one-shot-ds": dict(weight_lr=0.0020448382, weight_decay=5.04e-08, weight_warmup=True,
                             alpha_lr=0.0100063746, alpha_decay=0.0058022776, alpha_warmup=True,
                             alpha_scheduler="linear", alpha_optimizer="gd"),
    "bohb-blur": dict(weight_lr=0.0020882283, weight_decay=4.4e-08, weight_warmup=False, alpha_lr=8.43195e-05,
                      alpha_decay=0.0127425783, alpha_warmup=True, alpha_scheduler="linear", alpha_optimizer="adam"),
    "bohb-das-single": dict(weight_lr=0.0014232405, weight_decay=8.616e-07, weight_warmup=False,
                            alpha_lr=0.025012337102395577, alpha_decay=1.390640076980444e-05, alpha_warmup=False,
                            alpha_scheduler="none", alpha_optimizer="adam"),
    "bohb-non-seq-one-shot-blur": dict(weight_lr=0.0050969066, weight_decay=2.423e-07, weight_warmup=False,
                                       alpha_lr=1.32499e-05, alpha_decay=0.0010171142, alpha_warmup=False,
                                       alpha_scheduler="none", alpha_optimizer="adam"),
    "bohb-non-seq-blur": dict(weight_lr=0.0037014752, weight_decay=1.4573e-06, weight_warmup=False,
                              alpha_lr=0.0012395056, alpha_decay=0.0002855732, alpha_warmup=False,
                              alpha_scheduler="none", alpha_optimizer="adam"),
}


def test_table7_space_has_the_paper_ranges():
    space = load_space(seed=0)
    assert set(space) == set(TABLE7) | set(CATEGORIES)
    for name, (lower, upper) in TABLE7.items():
        hp = space[name]
        assert isinstance(hp, UniformFloatHyperparameter) and hp.log and (hp.lower, hp.upper) == (lower, upper)
    for name, choices in CATEGORIES.items():
        assert isinstance(space[name], CategoricalHyperparameter) and set(space[name].choices) == choices


def test_sampled_configs_become_valid_hparams():
    space = load_space(seed=1)
    for _ in range(20):
        HParams.from_mapping(compat.plain(dict(space.sample_configuration())))


def test_presets_ship_with_the_paper_values_and_lie_in_the_space():
    assert set(PRESETS) <= set(preset_names())
    space = load_space()
    for name, values in PRESETS.items():
        hparams = load_preset(name)
        assert hparams == HParams(**values), name
        Configuration(space, values=hparams.to_dict()).check_valid_configuration()


def test_a_preset_path_is_accepted_like_a_name(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("description: ignored\n" + "\n".join(f"{k}: {v}" for k, v in PRESETS["H1"].items()) + "\n")
    assert load_preset(str(path)) == load_preset("H1")


def test_conditional_hyperparameters_are_one_more_entry(tmp_path):
    path = tmp_path / "cond.yaml"
    path.write_text(textwrap.dedent("""
        hyperparameters:
          alpha_optimizer: {type: categorical, choices: [adam, gd]}
          alpha_decay: {type: float, lower: 1.0e-5, upper: 0.1, log: true}
          alpha_lr: {type: float, lower: 1e-5, upper: 0.1, log: true, default: 0.001}
        conditions:
          - {child: alpha_decay, parent: alpha_optimizer, equals: gd}
    """))
    space = load_space(path, seed=0)
    configs = [dict(space.sample_configuration()) for _ in range(30)]
    assert all(("alpha_decay" in c) == (c["alpha_optimizer"] == "gd") for c in configs)
    assert {c["alpha_optimizer"] for c in configs} == {"adam", "gd"}


SPACE_ERRORS = [
    ("hyperparameters: [", "not valid YAML"),
    ("- a list", "expected a mapping"),
    ("hyperparameters: {}", "'hyperparameters'"),
    ("extra: 1\nhyperparameters: {weight_lr: {type: float, lower: 0.1, upper: 1}}", "extra"),
    ("hyperparameters: {learning_rate: {type: float, lower: 0.1, upper: 1}}", "hyperparameters.learning_rate"),
    ("hyperparameters: {weight_lr: {type: normal, lower: 0.1, upper: 1}}", "hyperparameters.weight_lr.type"),
    ("hyperparameters: {weight_lr: {type: float, lower: 1, upper: 0.1}}", "hyperparameters.weight_lr.lower"),
    ("hyperparameters: {weight_lr: {type: float, lower: 0, upper: 1, log: true}}", "hyperparameters.weight_lr.lower"),
    ("hyperparameters: {weight_lr: {type: float, lower: x, upper: 1}}", "hyperparameters.weight_lr.lower"),
    ("hyperparameters: {weight_lr: {type: float, lower: 0.1, upper: 1, default: 5}}", "hyperparameters.weight_lr.default"),
    ("hyperparameters: {weight_lr: {type: float, lower: 0.1, upper: 1, step: 2}}", "hyperparameters.weight_lr.step"),
    ("hyperparameters: {alpha_optimizer: {type: categorical, choices: [adam]}}", "hyperparameters.alpha_optimizer.choices"),
    ("hyperparameters: {alpha_optimizer: {type: categorical, choices: [adam, gd], default: sgd}}",
     "hyperparameters.alpha_optimizer.default"),
    ("hyperparameters: {alpha_lr: {type: float, lower: 0.1, upper: 1}}\n"
     "conditions: [{child: alpha_lr, parent: alpha_optimizer, equals: gd}]", "conditions[0].parent"),
    ("hyperparameters: {zo_radius: {type: float, lower: 0.1, upper: 1}}\n"
     "conditions: [{child: zo_radius, method: [zarts_xyz]}]", "conditions[0].method"),
    ("hyperparameters: {zo_radius: {type: float, lower: 0.1, upper: 1}}\n"
     "conditions: [{child: zo_samples, method: [zarts_rs]}]", "conditions[0].child"),
]


@pytest.mark.parametrize("text, field", SPACE_ERRORS)
def test_malformed_space_file_names_the_file_and_the_field(tmp_path, text, field):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_space(path)
    assert str(path) in str(err.value) and field in str(err.value)
    assert "\n" not in str(err.value)


PRESET_ERRORS = [
    ("weight_lr: [", "not valid YAML"),
    ("- 1", "expected a mapping"),
    ("weight_lr: -0.1", "weight_lr"),
    ("alpha_decay: .nan", "alpha_decay"),
    ("learning_rate: 0.1", "learning_rate"),
    ("alpha_scheduler: cosine", "alpha_scheduler"),
    ("alpha_optimizer: sgd", "alpha_optimizer"),
    ("weight_warmup: maybe", "weight_warmup"),
    ("relaxation: softermax", "relaxation"),
    ("gumbel_tau_min: 20", "gumbel_tau_min"),
    ("sparsestmax_ramp: 1.5", "sparsestmax_ramp"),
    ("zo_samples: 0", "zo_samples"),
    ("zo_inner_steps: 1.5", "zo_inner_steps"),
]


@pytest.mark.parametrize("text, field", PRESET_ERRORS)
def test_malformed_preset_file_names_the_file_and_the_field(tmp_path, text, field):
    path = tmp_path / "broken.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load_preset(str(path))
    assert str(path) in str(err.value) and field in str(err.value)


def test_default_space_file_is_the_shipped_one():
    assert DEFAULT_SPACE.name == "das.yaml" and DEFAULT_SPACE.is_file()
    with pytest.raises(ConfigError, match="does not exist"):
        load_space("no-such-space")


def test_method_conditions_put_the_zarts_settings_only_in_zarts_runs():
    zarts = {"zo_samples", "zo_radius", "zo_inner_steps"}
    for method in ("das", "darts2", "zarts_rs", "zarts_mgs", "zarts_gld"):
        names = set(load_space("beyond", method=method))
        assert zarts & names == (zarts if method.startswith("zarts") else set())
        assert {"relaxation", "gumbel_tau_max", "weight_lr"} <= names


def test_beyond_space_conditions_each_relaxation_setting_on_its_relaxation():
    space = load_space("beyond", seed=0, method="zarts_rs")
    configs = [dict(space.sample_configuration()) for _ in range(60)]
    for config in configs:
        assert ("gumbel_tau_min" in config) == (config["relaxation"] == "gumbel")
        assert ("sparsestmax_ramp" in config) == (config["relaxation"] == "sparsestmax")
        assert ("zero_one_weight" in config) == (config["relaxation"] == "sigmoid")
        HParams.from_mapping(config)  # a valid set of trial hyperparameters
    assert {c["relaxation"] for c in configs} == {"softmax", "sparsemax", "sparsestmax", "sigmoid", "gumbel"}
