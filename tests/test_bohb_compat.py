"""compat: numpy values over a real Pyro round trip, plain configs, finite losses, quiet warnings."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading

import numpy as np
import Pyro4
import pytest

from bohb_das.bohb import compat
from bohb_das.errors import ConfigError
from bohb_das.bohb.configspace import load_space

compat.install()

SCALARS = [
    np.bool_(True), np.bool_(False),
    np.int8(-8), np.int16(-16), np.int32(-32), np.int64(-64),
    np.uint8(8), np.uint16(16), np.uint32(32), np.uint64(2**63 + 1),
    np.float16(0.5), np.float32(1.25), np.float64(3.0), np.longdouble(2.5),
    np.complex64(1 + 2j), np.complex128(3 - 4j), np.clongdouble(1 - 1j),
    np.str_("gd"),
]


@Pyro4.expose
class Echo:
    def echo(self, value):
        return value

    def kinds(self, value):
        return type(value).__name__


@pytest.fixture(scope="module")
def echo_proxy():
    """A Pyro daemon on 127.0.0.1 (free port) in this process; the wire format is the real one."""
    daemon = Pyro4.Daemon(host=compat.LOOPBACK, port=0)
    uri = daemon.register(Echo())
    thread = threading.Thread(target=daemon.requestLoop, daemon=True)
    thread.start()
    proxy = Pyro4.Proxy(uri)
    proxy._pyroTimeout = 10
    yield proxy
    proxy._pyroRelease()
    daemon.shutdown()
    thread.join(5)


@pytest.mark.parametrize("value", SCALARS, ids=lambda v: type(v).__name__ + "-" + str(v))
def test_every_numpy_scalar_kind_crosses_pyro_as_plain_python(echo_proxy, value):
    back = echo_proxy.echo(value)
    expected = compat.python_scalar(value)
    assert type(back) is type(expected) and back == expected
    assert not isinstance(back, np.generic)
    assert type(compat.plain(value)) is type(expected)


def test_arrays_and_nested_values_cross_pyro(echo_proxy):
    value = {"a": np.arange(3, dtype=np.int32), "b": [np.float32(0.5), (np.bool_(False),)], "c": np.eye(2)}
    assert echo_proxy.echo(value) == {"a": [0, 1, 2], "b": [0.5, (False,)], "c": [[1.0, 0.0], [0.0, 1.0]]}


def test_non_finite_float64_crosses_pyro(echo_proxy):
    assert math.isnan(echo_proxy.echo(np.float64("nan")))
    assert echo_proxy.echo(np.float64("inf")) == math.inf


def test_boolean_categorical_config_crosses_pyro_and_json():
    space = load_space(seed=3)
    configs = [dict(space.sample_configuration()) for _ in range(20)]
    assert any(isinstance(c["weight_warmup"], np.bool_) for c in configs)  # the ConfigSpace 1.x behaviour
    assert {c["weight_warmup"] for c in configs} == {True, False}
    daemon = Pyro4.Daemon(host=compat.LOOPBACK, port=0)
    uri = daemon.register(Echo())
    thread = threading.Thread(target=daemon.requestLoop, daemon=True)
    thread.start()
    try:
        with Pyro4.Proxy(uri) as proxy:
            for config in configs:
                back = proxy.echo(config)
                assert type(back["weight_warmup"]) is bool and type(back["alpha_optimizer"]) is str
                assert back == compat.plain(config)
                assert proxy.kinds(config["alpha_warmup"]) == "bool"
    finally:
        daemon.shutdown()
        thread.join(5)
    json.dumps(compat.plain(configs))  # json_result_logger would abort on np.bool_


@pytest.mark.parametrize("loss", [None, float("nan"), math.inf, -math.inf, np.float32("nan"), "bad", [1.0], 1e9])
def test_finite_loss_maps_everything_invalid_to_the_failed_loss(loss):
    assert compat.finite_loss(loss) == compat.FAILED_LOSS


def test_finite_loss_keeps_real_losses_as_plain_floats():
    value = compat.finite_loss(np.float64(-31.5))
    assert value == -31.5 and type(value) is float
    assert compat.finite_loss(3) == 3.0


def test_json_safe_replaces_non_finite_by_null():
    assert compat.json_safe({"a": np.float32("nan"), "b": [math.inf, np.int64(2)]}) == {"a": None, "b": [None, 2]}


def test_install_is_idempotent_and_silences_the_hpbandster_warning_flood():
    code = (
        "import warnings\n"
        "from bohb_das.bohb import compat\n"
        "compat.install(); compat.install()\n"
        "from bohb_das.bohb.configspace import load_space\n"
        "from hpbandster.optimizers.config_generators.bohb import BOHB\n"
        "cg = BOHB(load_space(seed=0))\n"
        "for _ in range(3): cg.get_config(1.0)\n"
    )
    done = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr


def test_address_towards_loopback_needs_no_netifaces():
    assert compat.address_towards("127.0.0.1") == "127.0.0.1"
    assert compat.address_towards("localhost") == "127.0.0.1"


def test_jobs_go_to_the_least_loaded_worker_process():
    """Slots of two processes (one host name with dots): a rung's jobs alternate between them."""
    from types import SimpleNamespace

    from bohb_das.bohb.compat import least_loaded, process_of

    names = [f"hpbandster.run_r.worker.node.example.org.{pid}.w.slot{k}{7 * k}" for pid in (11, 22) for k in range(4)]
    assert {process_of(n) for n in names} == {"node.example.org.11", "node.example.org.22"}
    pool = {name: SimpleNamespace(runs_job=None) for name in names}
    idle, taken = set(names), []
    for job in range(6):
        name = least_loaded(pool, idle)
        idle.discard(name)
        pool[name].runs_job = job
        taken.append(process_of(name))
    assert taken.count("node.example.org.11") == taken.count("node.example.org.22") == 3


def test_another_hpbandster_release_is_refused_in_one_line():
    compat.check_version()  # the installed one fits
    with pytest.raises(ConfigError, match=r"^hpbandster 1\.0\.0 is installed; .* fits 0\.7\.4 only \(pip install hpbandster==0\.7\.4\)$"):
        compat.check_version("1.0.0")
