"""Plugins: a user's package adds a problem, an operation, a relaxation and an architecture update
(one module each) through the ``bohb_das.plugins`` entry points, without editing bohb-das, and they
run in a trial and in a BOHB run; broken plugins and clashing names are one-line errors."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bohb_das.errors import ConfigError
from bohb_das.problems import PROBLEMS
from bohb_das.registry import Registry

PLUGIN = '''
"""A user's problem: inpainting, the cosine signals with every third sample missing."""
from dataclasses import dataclass

import torch

from bohb_das.problems import PROBLEMS
from bohb_das.problems.base import Problem
from bohb_das.problems.cosine1d import SIGNAL_LENGTH, cosine_signals, grid


@dataclass(frozen=True)
class Inpainting(Problem):
    name: str
    mask: torch.Tensor
    profile: object

    signal_shape = property(lambda self: (SIGNAL_LENGTH,))
    measurement_shape = property(lambda self: (SIGNAL_LENGTH,))
    device = property(lambda self: self.mask.device)
    dtype = property(lambda self: self.mask.dtype)

    def to(self, device, dtype):
        return Inpainting(self.name, self.mask.to(device=device, dtype=dtype), self.profile)

    def forward(self, x):
        return x * self.mask

    def adjoint(self, y):
        return y * self.mask

    def ground_truth(self, size, rand, randn):
        return cosine_signals(rand(size, 1), randn(size, 2), grid()).to(self.mask)


@PROBLEMS.register("inpaint")
def inpaint(profile):
    return Inpainting("inpaint", (torch.arange(SIGNAL_LENGTH) % 3 != 0).double(), profile)
'''


OPERATION = '''
"""A user's operation: half the current estimate, and the good set with it."""
from bohb_das.operations import OP_SETS, OPERATIONS, Operation


def _halve(u, gradient, tau, ctx):
    return 0.5 * u


OPERATIONS.register("halve")(Operation("halve", _halve, learned_net=False, step=False))
OP_SETS.register("good_halve")(("learnable_gd", "net", "halve"))
'''

RELAXATION = '''
"""A user's relaxation: a softmax at a temperature, its own tunable setting (default 2)."""
from dataclasses import dataclass

import torch

from bohb_das.relaxations import RELAXATIONS, Relaxation
from bohb_das.settings import SETTINGS, Settings, setting


@SETTINGS.register("soft2")
@dataclass(frozen=True)
class Soft2Settings(Settings):
    soft2_temperature: float = setting(2.0, "softmax temperature", positive=True)


@RELAXATIONS.register("soft2")
class SoftmaxAtTemperature(Relaxation):
    def __call__(self, alpha, progress=1.0, noise=None):
        return torch.softmax(alpha / self.hp.of(Soft2Settings).soft2_temperature, -1)
'''

UPDATE = '''
"""A user's architecture update: the sign of DAS's gradient (signSGD on alpha), as method das_sign."""
from bohb_das.methods import METHODS, searching
from bohb_das.updates import UPDATES
from bohb_das.updates.first_order import first_order


@UPDATES.register("sign")
def sign(step):
    return first_order(step).sign()


METHODS.register("das_sign")(searching("sign"))
'''


SAMPLER = '''
"""A user's sampler: always the space's default configuration."""
from bohb_das.bohb.samplers import SAMPLERS, Sampler


class Defaults:
    def __init__(self, space):
        self.space = space

    def get_config(self, budget):
        return dict(self.space.get_default_configuration()), {"sampler": "defaults"}

    def new_result(self, job, update_model=True):
        pass


SAMPLERS.register("defaults")(Sampler(lambda space, kde, seed: Defaults(space), model_based=False))
'''


def install(tmp_path: Path, package_name: str, modules: dict[str, str]) -> dict[str, str]:
    """Installs a package of ``modules`` (name -> source), each declared a bohb-das plugin, into a
    target folder (not into the test venv, which other tests share); returns the environment that sees it."""
    package = tmp_path / f"{package_name}-package"
    package.mkdir()
    for module, source in modules.items():
        (package / f"{module}.py").write_text(source)
    entry_points = "\n".join(f'{module} = "{module}"' for module in modules)
    (package / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{package_name.replace('_', '-')}"
        version = "0.1"
        [tool.setuptools]
        py-modules = {json.dumps(list(modules))}
        [project.entry-points."bohb_das.plugins"]
    """) + entry_points + "\n")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(package)], check=True, timeout=120)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))}


def bohb_das(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "bohb-das"  # the console script, as a user runs it
    return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_a_plugin_problem_runs_in_a_trial_and_in_bohb(tmp_path):
    env = install(tmp_path, "inpaint_plugin", {"inpaint_plugin": PLUGIN})
    # profile paper: its summed objective moves alpha within 2 epochs; under the default's (the mean x 8)
    # a 2-epoch search keeps about its initial argmax, whose architectures scored below the back-projection
    trial = bohb_das(["trial", "--formation", "inpaint", "--trials", "2", "--epochs", "2", "--width", "4", "--json",
                      "--profile", "paper"], env)
    assert trial.returncode == 0, trial.stderr
    records = [json.loads(line) for line in trial.stdout.splitlines()]
    assert [r["spec"]["formation"] for r in records] == ["inpaint", "inpaint"]
    assert all(r["status"] == "ok" and r["arch_psnr"] > r["backprojection_psnr"] for r in records), records
    run = tmp_path / "run"
    optimize = bohb_das(["optimize", "--run-dir", str(run), "--formation", "inpaint", "--iterations", "2",
                         "--min-budget", "1", "--max-budget", "3", "--width", "4", "--workers", "1",
                         "--device", "cpu", "--ping-interval", "1"], env)
    assert optimize.returncode == 0, optimize.stderr
    assert json.loads((run / "manifest.json").read_text())["formation"] == "inpaint"
    results = [json.loads(line) for line in (run / "results.json").read_text().splitlines()]
    infos = [r[3]["info"] for r in results]
    assert len(infos) >= 4 and all(i["status"] == "ok" and math.isfinite(i["arch_psnr"]) for i in infos)


@pytest.mark.slow
def test_plugin_operation_relaxation_and_update_run_in_a_trial_and_in_bohb(tmp_path):
    env = install(tmp_path, "my_search", {"halve_op": OPERATION, "soft2_relaxation": RELAXATION, "sign_update": UPDATE})
    trial = bohb_das(["trial", "--ops", "good_halve", "--method", "das_sign", "--relaxation", "soft2",
                      "--soft2-temperature", "3", "--trials", "2", "--epochs", "2", "--width", "4", "--json"], env)
    assert trial.returncode == 0, trial.stderr
    records = [json.loads(line) for line in trial.stdout.splitlines()]
    assert [(r["spec"]["ops"], r["spec"]["method"], r["spec"]["hparams"]["relaxation"]) for r in records] == \
        [("good_halve", "das_sign", "soft2")] * 2
    assert all(r["spec"]["hparams"]["soft2_temperature"] == 3.0 for r in records)  # the plugin's own setting
    assert all(r["status"] == "ok" and math.isfinite(r["one_shot_psnr"]) for r in records), records
    assert all(len(edge) == 3 for r in records for edge in r["alphas"])  # halve is a candidate of every edge
    bad = bohb_das(["trial", "--relaxation", "soft2", "--soft2-temperature", "-1", "--epochs", "1"], env, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "bohb-das: error: soft2_temperature must be > 0, got -1.0"]
    assert "soft2: softmax temperature (default: 2)" in " ".join(bohb_das(["trial", "--help"], env, timeout=60).stdout.split())
    listed = bohb_das(["plugins"], env, timeout=60).stdout
    for name, module in (("halve", "halve_op"), ("good_halve", "halve_op"), ("soft2", "soft2_relaxation"),
                         ("sign", "sign_update"), ("das_sign", "sign_update"), ("soft2_temperature", "soft2_relaxation")):
        assert re.search(rf"^  {name} +{module}\b", listed, re.M), listed
    run = tmp_path / "run"
    optimize = bohb_das(["optimize", "--run-dir", str(run), "--ops", "good_halve", "--method", "das_sign",
                         "--relaxation", "soft2", "--iterations", "2", "--min-budget", "1", "--max-budget", "3",
                         "--width", "4", "--workers", "1", "--device", "cpu", "--ping-interval", "1"], env)
    assert optimize.returncode == 0, optimize.stderr
    manifest = json.loads((run / "manifest.json").read_text())
    assert (manifest["ops"], manifest["method"], manifest["relaxation"]) == ("good_halve", "das_sign", "soft2")
    infos = [json.loads(line)[3]["info"] for line in (run / "results.json").read_text().splitlines()]
    assert len(infos) >= 4 and all(i["status"] == "ok" and math.isfinite(i["one_shot_psnr"]) for i in infos)
    unknown = bohb_das(["trial", "--ops", "good_halve", "--trials", "1", "--epochs", "1"], {**os.environ})
    assert unknown.returncode == 2 and "unknown operation set 'good_halve' (known: good, all)" in unknown.stderr


@pytest.mark.slow
def test_a_plugin_sampler_proposes_the_configurations_of_a_bohb_run(tmp_path):
    env = install(tmp_path, "defaults_sampler", {"defaults_sampler": SAMPLER})
    run = tmp_path / "run"
    optimize = bohb_das(["optimize", "--run-dir", str(run), "--sampler", "defaults", "--iterations", "2",
                         "--min-budget", "1", "--max-budget", "3", "--width", "4", "--workers", "1",
                         "--device", "cpu", "--ping-interval", "1"], env)
    assert optimize.returncode == 0, optimize.stderr
    assert json.loads((run / "manifest.json").read_text())["sampler"] == "defaults"
    configs = [json.loads(line) for line in (run / "configs.json").read_text().splitlines()]
    assert len(configs) >= 4 and all(info == {"sampler": "defaults"} for _, _, info in configs)
    assert len({json.dumps(config, sort_keys=True) for _, config, _ in configs}) == 1  # the default, every time
    assert re.search(r"^  defaults +defaults_sampler\b", bohb_das(["plugins"], env, timeout=60).stdout, re.M)


def test_a_broken_plugin_is_one_line_naming_it(tmp_path):
    env = install(tmp_path, "broken_plugin", {"broken_plugin": "raise RuntimeError('missing dependency xyz')\n"})
    out = bohb_das(["trial", "--trials", "1", "--epochs", "1", "--width", "4"], env, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "bohb-das: error: plugin 'broken_plugin' (broken_plugin) failed to load: RuntimeError: missing dependency xyz"]


def test_names_are_registered_once():
    assert "blur" in PROBLEMS  # the built-ins are loaded on the first read (so this test passes alone too)
    with pytest.raises(ConfigError, match="formation 'blur' is registered twice"):
        PROBLEMS.register("blur")(lambda profile: None)
    registry: Registry[int] = Registry("thing")
    assert registry.register("a")(1) == 1 and registry["a"] == 1
    with pytest.raises(ConfigError, match="unknown thing 'b' \\(known: a\\)"):
        registry["b"]
    with pytest.raises(ConfigError, match="without ':'"):
        registry.register("das:gumbel")


def test_output_into_a_closed_pipe_is_not_an_error():
    """`bohb-das plugins | head -1`: the reader leaves early; no traceback, exit 0."""
    script = Path(sys.executable).parent / "bohb-das"
    process = subprocess.Popen([str(script), "plugins"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # before anything is written
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0 and b"Traceback" not in err, err
