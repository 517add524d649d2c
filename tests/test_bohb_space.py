"""The Table-7 space file, conditional entries, the shipped presets, and malformed files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from ConfigSpace import CategoricalHyperparameter, Configuration, ConfigurationSpace, UniformFloatHyperparameter

from bohb_das.bohb import compat
from bohb_das.bohb.configspace import DEFAULT_SPACE, load_space
from bohb_das.datafiles import SPACES_DIR
from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams, load_preset, preset_names
from bohb_das.methods import METHODS

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
          - {name: alpha_optimizer, type: categorical, choices: [adam, gd]}
          - {name: alpha_decay, type: uniform_float, lower: 1.0e-5, upper: 0.1, log: true}
          - {name: alpha_lr, type: uniform_float, lower: 1.0e-5, upper: 0.1, log: true, default_value: 0.001}
        conditions:
          - {type: EQ, child: alpha_decay, parent: alpha_optimizer, value: gd}
    """))
    space = load_space(path, seed=0)
    configs = [dict(space.sample_configuration()) for _ in range(30)]
    assert all(("alpha_decay" in c) == (c["alpha_optimizer"] == "gd") for c in configs)
    assert {c["alpha_optimizer"] for c in configs} == {"adam", "gd"}


@pytest.mark.parametrize("name", sorted(p.stem for p in SPACES_DIR.glob("*.yaml")))
def test_configspace_reads_every_shipped_space_as_the_tool_builds_it(name):
    """ConfigSpace's own reader gives every hyperparameter of the file; a run's space has exactly those
    whose meta.methods take its method, as ConfigSpace reads them (less the relaxation and its
    settings for a method that fixes its relaxation)."""
    path = SPACES_DIR / f"{name}.yaml"
    theirs = ConfigurationSpace.from_yaml(path)
    for method in METHODS:
        ours = load_space(path, method=method)
        bound = {n for n, hp in theirs.items() if method in (hp.meta or {}).get("methods", METHODS)}
        if METHODS[method].relaxation is None:
            assert set(ours) == bound, method
        else:
            assert set(ours) <= bound and "relaxation" not in ours, method
        assert all(ours[n] == theirs[n] for n in ours if n not in {c.child.name for c in theirs.get_conditions()}), method
        if set(ours) == set(theirs):
            assert ours == theirs, method


def test_a_space_written_by_configspace_is_read_back(tmp_path):
    path = tmp_path / "written.yaml"
    load_space("beyond", method="zarts_gld").to_yaml(path)
    assert load_space(path, method="zarts_gld") == load_space("beyond", method="zarts_gld")


NUMBER = "{name: weight_lr, type: uniform_float, lower: 0.1, upper: 1"
SPACE_ERRORS = [
    ("hyperparameters: [", "not valid YAML"),
    ("- a list", "expected a mapping"),
    ("hyperparameters: []", "'hyperparameters'"),
    ("hyperparameters: {weight_lr: {type: float, lower: 0.1, upper: 1}}", "format before ConfigSpace's"),
    (f"extra: 1\nhyperparameters: [{NUMBER}}}]", "extra"),
    (f"hyperparameters: [{NUMBER}}}]\nconditons: []", "conditons"),
    ("hyperparameters: [{name: learning_rate, type: uniform_float, lower: 0.1, upper: 1}]", "learning_rate"),
    ("hyperparameters: [{name: weight_lr, type: normal, lower: 0.1, upper: 1}]", "hyperparameters[0] (weight_lr)"),
    ("hyperparameters: [{name: weight_lr, lower: 0.1, upper: 1}]", "hyperparameters[0] (weight_lr)"),
    ("hyperparameters: [{name: weight_lr, type: uniform_float, lower: 1, upper: 0.1}]", "(weight_lr).lower"),
    ("hyperparameters: [{name: weight_lr, type: uniform_float, lower: 0, upper: 1, log: true}]", "(weight_lr).lower"),
    ("hyperparameters: [{name: weight_lr, type: uniform_float, lower: x, upper: 1}]", "(weight_lr).lower"),
    ("hyperparameters: [{name: weight_lr, type: uniform_float, lower: 1e-5, upper: 1}]", "write 1.0e-5"),
    (f"hyperparameters: [{NUMBER}, default_value: 5}}]", "(weight_lr)"),
    (f"hyperparameters: [{NUMBER}, step: 2}}]", "step"),
    ("hyperparameters: [{name: alpha_optimizer, type: categorical, choices: [adam, gd], default_value: sgd}]",
     "(alpha_optimizer)"),
    ("hyperparameters: [{name: alpha_lr, type: uniform_float, lower: 0.1, upper: 1}]\n"
     "conditions: [{type: EQ, child: alpha_lr, parent: alpha_optimizer, value: gd}]", "conditions[0].parent"),
    ("hyperparameters: [{name: alpha_lr, type: uniform_float, lower: 0.1, upper: 1},"
     " {name: alpha_optimizer, type: categorical, choices: [adam, gd]}]\n"
     "conditions: [{type: EQ, child: alpha_lr, parent: alpha_optimizer, value: sgd}]", "conditions[0]"),
    ("hyperparameters: [{name: zo_radius, type: uniform_float, lower: 0.1, upper: 1, meta: {methods: [zarts_xyz]}}]",
     "meta.methods"),
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
    assert {c["relaxation"] for c in configs} == {"softmax", "sparsemax", "sparsestmax", "sigmoid", "gumbel", "identity"}


def test_beyond_space_agrees_with_the_registries():
    """The shipped space file is data written by hand; the registries are the truth it must match:
    every relaxation and every setting is there, with the registered default, a relaxation's settings
    conditioned on that relaxation and the ZARTS settings bound to the methods of their updates."""
    from bohb_das.hparams import setting_owners
    from bohb_das.relaxations import RELAXATIONS

    updates = {"zarts": "zarts_rs", "hapg": "sparse_supernet"}  # the owners bound to methods, one method of each
    space = load_space("beyond", method="zarts_rs")
    assert list(space["relaxation"].choices) == list(RELAXATIONS)
    owners = setting_owners()
    parents = {c.child.name: c.value for c in space.get_conditions()}
    das = load_space("beyond", method="das")
    for name, (owner, kind) in owners.items():
        own = load_space("beyond", method=updates.get(owner, "das"))
        assert own[name].default_value == kind.__dataclass_fields__[name].default, name
        if owner in updates:  # an update's settings: in its methods' runs, unconditioned, and no others'
            assert name not in das and name not in parents, name
        else:  # a relaxation's settings: conditioned on their relaxation
            assert parents[name] == owner, name


def test_a_method_that_fixes_its_relaxation_does_not_tune_it():
    space = load_space("beyond", method="sparse_supernet")
    assert "relaxation" not in space and not space.get_conditions()
    assert {"lasso_lambda", "lasso_mix", "lasso_growth"} <= set(space)
    assert not {"gumbel_tau_max", "sparsestmax_ramp", "zero_one_weight", "zo_samples"} & set(space)


def test_a_clone_reads_the_shipped_space_where_a_user_looks(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    assert ConfigurationSpace.from_yaml("spaces/das.yaml") == ConfigurationSpace.from_yaml(SPACES_DIR / "das.yaml")
