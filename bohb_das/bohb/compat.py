"""The one place that makes hpbandster 0.7.4 work on numpy 2, ConfigSpace 1.x and Pyro4/serpent.

hpbandster is unmaintained; what breaks on today's stack was measured (``shared/notes/
hpbandster-pitfalls.md``). Every entry point of ``bohb_das.bohb`` (master, worker, optimize, query)
calls :func:`install` first; the other helpers are applied where values cross a process boundary or
reach a log file. What is fixed here, and why:

* numpy scalars and arrays on the wire: serpent raises ``TypeError`` on ``np.int64``, ``np.float32``,
  ``np.bool_``, ``np.str_`` and writes ``np.float64`` as ``np.float64(3.0)``, which the receiver rejects;
  Pyro "oneway" calls then hang the run silently. :func:`install` registers serpent replacements
  (``.item()`` / ``.tolist()``) in the calling process; master and workers each call it.
* numpy values in configs: ConfigSpace 1.x hands out ``np.bool_`` / ``np.str_`` / ``np.float64``, and
  ``json_result_logger`` aborts on ``np.bool_``. :func:`plain` turns configs into Python values before
  they are logged or sent.
* non-finite losses: ``None`` makes the master's ``job_callback`` raise and hang, NaN is written to
  results.json as the non-JSON token ``NaN``. :func:`finite_loss` maps every non-finite or missing
  loss to :data:`FAILED_LOSS`.
* warning floods (ConfigSpace ``get_hyperparameter``/``get_dictionary``, Pyro4 ``isSet``,
  statsmodels ``FutureWarning`` and divide-by-zero for single-level categoricals): silenced for those
  modules only, by :func:`install`.
* ``netifaces`` (no wheel for Python 3.11) is only needed when no host is given: every nameserver,
  dispatcher and worker here gets an explicit address (:data:`LOOPBACK` or :func:`address_towards`).
* a frozen worker blocks the dispatcher's discovery forever: :func:`set_comm_timeout` bounds every
  Pyro call of the master process, so the worker is declared dead instead.
* ``hpbandster.core.worker.Worker`` without a logger calls ``logging.basicConfig(DEBUG)`` on the whole
  process: our worker always passes a logger (:func:`quiet_logger` by default).

Not fixed because not used: ``Result.get_incumbent_trajectory(all_budgets=False)`` (NameError) and
``previous_result`` warm starts (replaced by the replay in ``bohb_das.bohb.master``).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import warnings
from typing import Any

import numpy as np

from bohb_das.results import json_ready

#: Loss reported to BOHB for a failed or diverged evaluation: worse than any real -PSNR (a PSNR of
#: -1000 dB would need a mean squared error of 1e100 times the signal peak), yet finite so that it is
#: valid JSON and ranks last in BOHB's kernel density split.
FAILED_LOSS = 1000.0

#: The only address used when master and workers share a host.
LOOPBACK = "127.0.0.1"

#: hpbandster's exception text for a job whose worker vanished (dispatcher.discover_workers).
LOST_WORKER_MESSAGE = "Worker died unexpectedly."

_installed = False


def install() -> None:
    """Registers the serpent replacements (once) and the warning filters in this process (idempotent).

    The filters are applied on every call: they are process state that a caller (pytest, per test)
    may have reset since the last one.
    """
    global _installed
    if not _installed:
        import Pyro4.util

        serializer = Pyro4.util.SerpentSerializer
        serializer.register_type_replacement(np.generic, python_scalar)
        serializer.register_type_replacement(np.ndarray, lambda value: value.tolist())
        Pyro4.config.SERIALIZER = "serpent"
        _installed = True
    for module in ("ConfigSpace", "hpbandster", "Pyro4", "statsmodels"):
        for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
            warnings.filterwarnings("ignore", category=category, module=module)
    # statsmodels' KDE warns about its future default generator from inside a pandas decorator, so the
    # warning is attributed to pandas and the module filter above misses it.
    warnings.filterwarnings("ignore", message="After 0.17 or January 2028", category=FutureWarning)
    # statsmodels' KDE divides by zero on a categorical with a single observed level (hpbandster #100).
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="statsmodels")


def set_comm_timeout(seconds: float) -> None:
    """Bounds every later Pyro call and connect of this process (master only: see module docstring)."""
    import Pyro4

    Pyro4.config.COMMTIMEOUT = float(seconds)


def python_scalar(value: np.generic) -> Any:
    """``.item()``, except for extended precision types whose ``.item()`` stays numpy."""
    item = value.item()
    if isinstance(item, np.complexfloating):
        return complex(item)
    if isinstance(item, np.generic):
        return float(item)
    return item


def plain(value: Any) -> Any:
    """Recursively converts numpy scalars/arrays (and tuples) into plain Python JSON-ready values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return python_scalar(value)
    if isinstance(value, dict):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def json_safe(value: Any) -> Any:
    """Like :func:`plain`, and non-finite floats become ``None`` (strict JSON has no NaN)."""
    return json_ready(plain(value))


def finite_loss(loss: Any) -> float:
    """A plain float BOHB can rank: ``None``, NaN, +-inf, non-numbers and losses beyond it -> FAILED_LOSS."""
    try:
        loss = float(plain(loss))
    except (TypeError, ValueError):
        return FAILED_LOSS
    if not math.isfinite(loss) or loss > FAILED_LOSS:
        return FAILED_LOSS
    return loss


def address_towards(host: str, port: int = 9) -> str:
    """This host's address on the interface that routes to ``host`` (no netifaces, no packet sent)."""
    if host in (LOOPBACK, "localhost"):
        return LOOPBACK
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((host, port))
        return probe.getsockname()[0]


def quiet_logger(name: str, path: str | os.PathLike[str] | None = None, level: int = logging.INFO) -> logging.Logger:
    """A logger writing to ``path`` (or stderr) that never touches the root logger's configuration."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    logger.propagate = False
    for old in list(logger.handlers):  # a second run in one process logs to its own directory
        logger.removeHandler(old)
        old.close()
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    return logger
