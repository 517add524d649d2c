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
  Pyro call of the master process, so the worker is declared dead instead. Bounded is not enough:
  the dispatcher probes workers (discovery) and starts jobs while holding the one lock that results
  and job starts also need, so one frozen host left every healthy worker idle for the whole
  timeout. :func:`install` replaces ``Dispatcher.discover_workers`` and ``Dispatcher.job_runner``
  with versions that make those calls without the lock (each job start in its own thread), so a
  frozen worker costs its own job only. Their bookkeeping is hpbandster's, plus one fix: a worker
  is idle only when the dispatcher gave it no job (it used to be marked idle between a job's start
  and the worker's first report of it). A job goes to an idle slot of the worker process that runs
  the fewest jobs, so that ``--slots`` processes share a rung evenly.
* a late result from a worker that was declared dead (frozen, then revived) replaced the result of
  the job's re-queued copy, which was then dropped without a word (a ``KeyError`` inside a oneway
  call). The rule here: a job's result is kept only from the worker it is assigned to now (the
  re-queued copy); any other result for it is logged as superseded and dropped, so exactly one
  result per (configuration, budget) is recorded. Workers say who they are with each result
  (``SENDER`` in the result dict, set by ``bohb_das.bohb.worker``).
* no authentication: hpbandster builds its Pyro daemons and proxies (nameserver, dispatcher,
  workers) without an HMAC key, so anyone who reaches the nameserver can register a worker and
  report results. Pyro4 4.x has no process-wide key, so :func:`install` wraps the constructors of
  ``Pyro4.core.Proxy`` and ``Pyro4.core.Daemon``, ``Pyro4.naming.startNS`` and ``Pyro4.locateNS`` to
  use the key given to :func:`use_secret`; a message without the right key is refused by Pyro itself.
* ``hpbandster.core.worker.Worker`` without a logger calls ``logging.basicConfig(DEBUG)`` on the whole
  process: our worker always passes a logger (:func:`quiet_logger` by default).
* three things bohb-das needs have no public hook in 0.7.4, so :class:`HookedBOHB` and
  :class:`SignedWorker` override private methods, here only: an iteration's configurations come
  from ``HookedBOHB.sample`` given the id the configuration will get (the replay of a resumed run
  reuses its logged configurations; the id is read from the iteration's internals), a job with a
  logged result is registered instead of submitted (``logged_result``; ``_submit_job`` is private),
  and every returned job passes ``before_result`` / ``after_result`` around hpbandster's own
  ``job_callback`` (re-queueing a job lost with its worker, typed results, progress). A worker's
  ``start_computation`` wraps the dispatcher's callback so that each result carries ``SENDER``.
  ``HookedBOHB`` lives in ``compat.optimizer``: importing hpbandster's optimizers takes seconds
  (ConfigSpace, statsmodels) that a worker process does not need.
* hpbandster's ``BOHB`` builds its KDE config generator itself and takes no other, so another
  sampler (``bohb_das.bohb.samplers``) replaces ``config_generator`` after construction
  (``HookedBOHB(sampler=...)``); the master reads it only through ``get_config`` and ``new_result``.

Not fixed because not used: ``Result.get_incumbent_trajectory(all_budgets=False)`` (NameError) and
``previous_result`` warm starts (replaced by the replay in ``bohb_das.bohb.master``).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import threading
import warnings
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np
import Pyro4
from hpbandster.core.worker import Worker as HpbWorker

from bohb_das.results import json_ready

#: Loss reported to BOHB for a failed or diverged evaluation: worse than any real -PSNR (a PSNR of
#: -1000 dB would need a mean squared error of 1e100 times the signal peak), yet finite so that it is
#: valid JSON and ranks last in BOHB's kernel density split.
FAILED_LOSS = 1000.0

#: The only address used when master and workers share a host.
LOOPBACK = "127.0.0.1"

#: hpbandster's exception text for a job whose worker vanished (dispatcher.discover_workers).
LOST_WORKER_MESSAGE = "Worker died unexpectedly."

#: The key of a worker's name in the result dict it reports (hpbandster itself reads only "result"
#: and "exception").
SENDER = "worker"

#: The hpbandster release every fix and override here was written against and measured on.
HPBANDSTER_VERSION = "0.7.4"

_installed = False
_secret: bytes | None = None


def check_version(installed: str | None = None) -> None:
    """A one-line error unless the installed hpbandster is the release these fixes fit: they replace
    its private methods, which another release may have changed."""
    from importlib.metadata import PackageNotFoundError, version

    from bohb_das.errors import ConfigError

    try:
        installed = installed or version("hpbandster")
    except PackageNotFoundError:
        raise ConfigError(f"hpbandster is not installed (pip install hpbandster=={HPBANDSTER_VERSION})") from None
    if installed != HPBANDSTER_VERSION:
        raise ConfigError(f"hpbandster {installed} is installed; bohb-das's compatibility layer fits "
                          f"{HPBANDSTER_VERSION} only (pip install hpbandster=={HPBANDSTER_VERSION})")


def install() -> None:
    """Checks the hpbandster release, then registers the serpent replacements (once) and the warning
    filters in this process (idempotent).

    The filters are applied on every call: they are process state that a caller (pytest, per test)
    may have reset since the last one.
    """
    global _installed
    if not _installed:
        check_version()
        import Pyro4.util

        serializer = Pyro4.util.SerpentSerializer
        serializer.register_type_replacement(np.generic, python_scalar)
        serializer.register_type_replacement(np.ndarray, lambda value: value.tolist())
        Pyro4.config.SERIALIZER = "serpent"
        _authenticate_pyro()
        _unblock_dispatcher()
        _installed = True
    for module in ("ConfigSpace", "hpbandster", "Pyro4", "statsmodels"):
        for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
            warnings.filterwarnings("ignore", category=category, module=module)
    # statsmodels' KDE warns about its future default generator from inside a pandas decorator, so the
    # warning is attributed to pandas and the module filter above misses it.
    warnings.filterwarnings("ignore", message="After 0.17 or January 2028", category=FutureWarning)
    # statsmodels' KDE divides by zero on a categorical with a single observed level (hpbandster #100).
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="statsmodels")


def use_secret(key: bytes | None) -> None:
    """Every Pyro daemon and proxy created from now on in this process signs and checks its messages
    with ``key`` (the run's secret); None turns authentication off again."""
    global _secret
    _secret = key


def _authenticate_pyro() -> None:
    import Pyro4.core
    import Pyro4.naming

    def keyed(init):
        def wrapper(self, *args, **kwargs):
            init(self, *args, **kwargs)
            self._pyroHmacKey = _secret
        return wrapper

    Pyro4.core.Proxy.__init__ = keyed(Pyro4.core.Proxy.__init__)
    Pyro4.core.Daemon.__init__ = keyed(Pyro4.core.Daemon.__init__)
    start_ns, locate_ns = Pyro4.naming.startNS, Pyro4.core._locateNS  # these two set a key of their own
    Pyro4.naming.startNS = lambda *args, **kwargs: start_ns(*args, **{**kwargs, "hmac": _secret})
    Pyro4.locateNS = Pyro4.naming.locateNS = lambda *args, **kwargs: locate_ns(*args, **{**kwargs, "hmac_key": _secret})


def process_of(worker_name: str) -> str:
    """The host and process id in hpbandster's worker name ``hpbandster.run_<id>.worker.<host>.<pid>...``
    (the first all-digit part: a host name may hold dots)."""
    parts = worker_name.split(".worker.", 1)[-1].split(".")
    pid = next((i for i, part in enumerate(parts) if part.isdigit()), len(parts) - 1)
    return ".".join(parts[: pid + 1])


def least_loaded(pool: dict[str, Any], idle: set[str]) -> str:
    """An idle slot of the worker process running the fewest jobs (hpbandster pops an arbitrary
    one, so a multi-slot process could take 7 of a rung's 9 jobs while another idled); ``pool``
    maps worker names to hpbandster's dispatcher-side workers (``runs_job``)."""
    running = Counter(process_of(name) for name, worker in pool.items() if worker.runs_job is not None)
    return min(sorted(idle), key=lambda name: running[process_of(name)])


def _unblock_dispatcher() -> None:
    import Pyro4
    import Pyro4.errors
    from hpbandster.core.dispatcher import Dispatcher, Worker

    def probe(worker: Worker) -> str:
        """'dead', 'busy' or 'idle'; a frozen worker takes up to the comm timeout to answer."""
        try:
            if not worker.is_alive():
                return "dead"
            return "busy" if worker.is_busy() else "idle"
        except Pyro4.errors.PyroError:
            return "dead"

    def discover_workers(self: Dispatcher) -> None:
        """Probes run in parallel, outside the lock; a probe still waiting on a frozen worker is
        applied in a later pass, so it delays no other worker's discovery, job or result."""
        probes: dict[str, tuple[Worker, Future]] = {}
        executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="probe")
        while True:
            try:
                with Pyro4.locateNS(host=self.nameserver, port=self.nameserver_port) as ns:
                    listed = ns.list(prefix=f"hpbandster.run_{self.run_id}.worker.")
            except Pyro4.errors.PyroError:
                listed = {}
            with self.discover_cond:
                known = dict(self.worker_pool)
            candidates = {**{name: Worker(name, uri) for name, uri in listed.items()}, **known}
            for name, worker in candidates.items():
                if name not in probes:
                    probes[name] = (worker, executor.submit(probe, worker))
            wait([future for _, future in probes.values()], timeout=1.0)
            done = {name: (worker, future.result()) for name, (worker, future) in probes.items() if future.done()}
            for name in done:
                del probes[name]
            crashed, changed = [], False
            with self.discover_cond:
                for name, (worker, state) in done.items():
                    if name not in self.worker_pool:
                        if state != "dead" and name not in known:
                            self.logger.info("DISPATCHER: discovered new worker, %s", name)
                            self.worker_pool[name] = worker
                            changed = True
                        else:
                            continue
                    worker = self.worker_pool[name]
                    if state == "dead":
                        self.logger.info("DISPATCHER: removing dead worker, %s", name)
                        if worker.runs_job is not None:
                            self.logger.info("Job %s was not completed", worker.runs_job)
                            crashed.append(worker.runs_job)
                        del self.worker_pool[name]
                        self.idle_workers.discard(name)
                        changed = True
                    elif state == "idle" and worker.runs_job is None:
                        self.idle_workers.add(name)
            if changed and self.queue_callback is not None:
                self.queue_callback(len(self.worker_pool))
            with self.discover_cond:
                self.runner_cond.notify()
            for job_id in crashed:
                self.register_result(job_id, {"result": None, "exception": LOST_WORKER_MESSAGE})
            with self.discover_cond:
                if not self.shutdown_all_threads:
                    self.discover_cond.wait(self.ping_interval)
                if self.shutdown_all_threads:
                    self.runner_cond.notify()
                    executor.shutdown(wait=False, cancel_futures=True)
                    return

    def start(self: Dispatcher, worker: Worker, job) -> None:
        try:
            worker.proxy.start_computation(self, job.id, **job.kwargs)
        except Pyro4.errors.PyroError as exc:  # unreachable: out of the pool (discovery re-adds it if alive)
            self.logger.warning("DISPATCHER: could not start job %s on %s: %s", job.id, worker.name, exc)
            with self.discover_cond:
                self.worker_pool.pop(worker.name, None)
                self.idle_workers.discard(worker.name)
            self.register_result(job.id, {"result": None, "exception": LOST_WORKER_MESSAGE})

    def job_runner(self: Dispatcher) -> None:
        with self.runner_cond:
            while True:
                while self.waiting_jobs.empty() or not self.idle_workers:
                    self.runner_cond.wait()
                    if self.shutdown_all_threads:
                        self.discover_cond.notify()
                        return
                job = self.waiting_jobs.get()
                name = least_loaded(self.worker_pool, self.idle_workers)
                self.idle_workers.discard(name)
                worker = self.worker_pool[name]
                job.time_it("started")
                worker.runs_job = job.id
                job.worker_name = name
                self.running_jobs[job.id] = job
                threading.Thread(target=start, args=(self, worker, job), name=f"start-{job.id}", daemon=True).start()

    register = Dispatcher.register_result

    @Pyro4.expose
    @Pyro4.callback
    @Pyro4.oneway
    def register_result(self: Dispatcher, id=None, result=None) -> None:
        sender = result.get(SENDER) if isinstance(result, dict) else None
        with self.runner_cond:
            job = self.running_jobs.get(id)
            assigned = None if job is None else job.worker_name
        if job is None or (sender is not None and sender != assigned):
            now = "no longer running" if job is None else f"re-queued on {assigned}, whose result is kept"
            self.logger.warning("DISPATCHER: superseded result of job %s from %s dropped: the job is %s",
                                id, sender, now)
            return
        register(self, id, result)

    Dispatcher.discover_workers = discover_workers
    Dispatcher.job_runner = job_runner
    Dispatcher.register_result = register_result


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


ConfigId = tuple[int, int, int]


class SignedWorker(HpbWorker):
    """hpbandster's Worker whose every result names it (``SENDER``): the dispatcher keeps a job's
    result only from the worker the job is assigned to."""

    @Pyro4.expose
    @Pyro4.oneway
    def start_computation(self, callback, id, *args, **kwargs):
        return super().start_computation(_Signed(callback, self.worker_id), id, *args, **kwargs)


class _Signed:
    """The dispatcher's callback proxy, adding the sender's name to every result it reports."""

    def __init__(self, dispatcher, sender: str):
        self.dispatcher, self.sender = dispatcher, sender

    def register_result(self, id, result: dict[str, Any]) -> None:
        self.dispatcher.register_result(id, {**result, SENDER: self.sender})
