"""The BOHB worker: one evaluation = the study's trials (``--seeds-per-eval`` seeds, batched) for
``round(budget)`` epochs; loss = a quantile over the seeds of -PSNR of the target. A worker process
with ``slots`` registers that many hpbandster workers and trains their jobs of one budget together
(``bohb_das.bohb.slots``): configurations x seeds in one model.

``compute`` sends an ``Evaluation`` as hpbandster's result dict (``records``: no non-finite loss or
numpy value reaches hpbandster). A worker finds its master through the run directory or a nameserver
address (``nameserver.locate``), takes the study from there, and exits on its own when the master is
gone (hpbandster's own idle timeout dies with the master's first failed callback, so orphaned workers
would otherwise live forever).
"""

from __future__ import annotations

import importlib
import os
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import Pyro4
import Pyro4.errors

from bohb_das.bohb import compat
from bohb_das.bohb.nameserver import Location, find_tasks, locate
from bohb_das.bohb.records import Evaluation, EvaluationInfo, SeedResult
from bohb_das.bohb.rundir import LOGS, read_secret
from bohb_das.bohb.slots import EvaluateJobs, Gatherer
from bohb_das.bohb.study import Study
from bohb_das.errors import ConfigError
from bohb_das.profiles import load_profile
from bohb_das.targets import Target

#: ``evaluate(study, config, budget, device) -> {"loss": float, "info": dict}`` (a custom objective of one
#: configuration; its dict is read by ``Evaluation.from_result``)
Evaluate = Callable[[Study, dict[str, Any], float, str], dict[str, Any]]

EXIT_MASTER_GONE = 3


def job_result(results: Sequence[Any], target: Target, quantile: float = 0.5) -> Evaluation:
    """Loss = ``quantile`` over seeds of -PSNR(target) (0.5: the median), a failed seed counting as
    ``FAILED_LOSS``; the info keeps every seed's PSNRs."""
    losses = [compat.finite_loss(-getattr(r, target.key)) if r.status == "ok" else compat.FAILED_LOSS for r in results]
    order = sorted(range(len(results)), key=losses.__getitem__)
    representative = results[order[int(quantile * (len(order) - 1))]]
    ok = [r for r in results if r.status == "ok"]
    info = EvaluationInfo(
        target=target.value,
        quantile=quantile,
        status="ok" if len(ok) == len(results) else ("failed" if not ok else "partial"),
        reason=next((r.reason for r in results if r.status != "ok"), None),
        one_shot_psnr=statistics.median(r.one_shot_psnr for r in ok) if ok else None,
        arch_psnr=statistics.median(r.arch_psnr for r in ok) if ok else None,
        backprojection_psnr=results[0].backprojection_psnr,
        genotype=representative.genotype,
        seconds=sum(r.seconds for r in results),
        device=results[0].device,
        trials=tuple(SeedResult(r.seed, r.status, r.reason, r.one_shot_psnr, r.arch_psnr) for r in results),
    )
    return Evaluation(float(np.quantile(losses, quantile)), info)


def das_evaluate(study: Study, configs: list[dict[str, Any]], budget: float, device: str) -> list[Evaluation]:
    """The real objective for several configurations at once: ``study.repeats`` seeds of each, all
    trained in one model for ``round(budget)`` epochs (configurations that disagree on a setting a
    batch must share, such as a tuned relaxation, train in separate models); one result per config."""
    from bohb_das.optim import shared_settings
    from bohb_das.trial import run_trials

    spec, seeds = study.trial_spec(max(1, round(budget)), {}), study.trial_seeds
    hparams = [study.hparams(config) for config in configs]
    batches: dict[tuple, list] = {}
    for hp in dict.fromkeys(hparams):  # a configuration sent twice is trained once
        batches.setdefault(shared_settings(hp), []).append(hp)
    trials = {}
    for members in batches.values():
        results = run_trials(spec, seeds * len(members), device=device,
                             hparams=[hp for hp in members for _ in seeds])
        for i, hp in enumerate(members):
            trials[hp] = results[i * len(seeds):(i + 1) * len(seeds)]
    return [job_result(trials[hp], study.target, study.quantile) for hp in hparams]


def resolve_evaluate(evaluate: Evaluate | str | None) -> Evaluate | None:
    """None -> None (:func:`das_evaluate`, which trains a worker's jobs together); a callable or
    ``"module:function"`` -> that function (a custom objective of one configuration)."""
    if evaluate is None or callable(evaluate):
        return evaluate
    module, sep, name = evaluate.partition(":")
    if not sep:
        raise ConfigError(f"objective must be given as module:function, got {evaluate!r}")
    return getattr(importlib.import_module(module), name)


def job_evaluator(study: Study, evaluate: Evaluate | None, device: str) -> EvaluateJobs:
    """What a worker process calls with the gathered jobs of one budget."""
    if evaluate is None:
        return lambda configs, budget: das_evaluate(study, configs, budget, device)
    return lambda configs, budget: [Evaluation.from_result(evaluate(study, config, budget, device)) for config in configs]


class DasWorker(compat.SignedWorker):
    """hpbandster Worker (one slot of a worker process) with plain-value results; ``stopping`` is
    shared by the slots of the process and set once the master shuts any of them down."""

    def __init__(self, location: Location, jobs: Gatherer, host: str, logger, name: str | None,
                 stopping: threading.Event):
        super().__init__(run_id=location.run_id, nameserver=location.host, nameserver_port=location.port,
                         host=host, logger=logger, id=name)
        self.jobs, self.stopping = jobs, stopping

    def compute(self, config_id, config, budget, working_directory) -> dict[str, Any]:
        evaluation = self.jobs(compat.plain(config), float(budget))
        self.logger.info("WORKER: job %s budget %g -> loss %g", tuple(config_id), float(budget), evaluation.loss)
        return evaluation.to_result()

    @Pyro4.expose
    @Pyro4.oneway
    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()


def watch_master(workers: list[DasWorker], location: Location, interval: float, grace: float, logger,
                 gone: threading.Event) -> None:
    """Stops every slot once the master's published task has been unreachable for ``grace`` s
    (hpbandster's own idle timeout dies with the master's first failed callback), setting ``gone``
    first."""
    stopping = workers[0].stopping
    last_seen = time.monotonic()
    while not stopping.wait(interval):
        if location.run_id in find_tasks(location.host, location.port, timeout=interval):
            last_seen = time.monotonic()
        elif time.monotonic() - last_seen > grace:
            logger.warning("WORKER: master of run %s is gone; exiting", location.run_id)
            gone.set()
            stopping.set()
            for worker in workers:
                if hasattr(worker, "pyro_daemon"):
                    worker.pyro_daemon.shutdown()
            return


def run_worker(
    run_dir: str | os.PathLike[str] | None = None,
    nameserver: str | None = None,
    *,
    device: str | None = None,
    host: str | None = None,
    evaluate: Evaluate | str | None = None,
    name: str | None = None,
    wait_s: float = 300.0,
    watch_interval: float = 2.0,
    master_grace: float = 20.0,
    log_path: str | os.PathLike[str] | None = None,
    profile: str | None = None,
    slots: int = 1,
    secret_file: str | os.PathLike[str] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> int:
    """Serves one master until it shuts the worker down (0) or disappears (``EXIT_MASTER_GONE``).

    ``slots`` hpbandster workers register from this process; the jobs they receive with equal
    budgets train together in one model (``bohb_das.bohb.slots``).

    ``device`` defaults to the master's; ``host`` (this worker's address as seen by the master)
    defaults to the interface that routes to the nameserver. The study, its profile included, is the
    master's; ``profile`` (a name or file) makes the worker refuse a run under any other settings.
    ``secret_file`` holds the run's secret (default: the run directory's); without it the master's
    nameserver refuses the worker. ``on_wait`` is told in a line where the worker waits for its master
    and until when, when none answers at once.
    """
    if slots < 1:
        raise ConfigError(f"--slots must be at least 1, got {slots}")
    compat.install()
    if log_path is None and run_dir is not None:
        (Path(run_dir) / LOGS).mkdir(parents=True, exist_ok=True)
        log_path = Path(run_dir) / LOGS / f"worker-{socket.gethostname()}-{os.getpid()}.log"
    logger = compat.quiet_logger(f"bohb_das.worker.{os.getpid()}", log_path)
    expected = load_profile(profile) if profile is not None else None  # a bad file fails before any wait
    secret = read_secret(secret_file) if secret_file is not None else None
    location = locate(Path(run_dir) if run_dir is not None else None, nameserver, wait_s, logger, secret, on_wait)
    study = Study.from_mapping(location.task)
    if expected is not None and expected.settings() != study.profile.settings():
        raise ConfigError(f"run {location.run_id} uses profile {study.profile.name!r} {study.profile.settings()}, "
                          f"not --profile {expected.name!r} {expected.settings()}")
    device = device or location.task.get("device", "cpu")
    report = lambda n, budget, s: logger.info("WORKER: trained %d job(s) of budget %g together in %.1f s", n, budget, s)
    jobs = Gatherer(job_evaluator(study, resolve_evaluate(evaluate), device), slots, on_batch=report)
    stopping = threading.Event()
    host = host or compat.address_towards(location.host, location.port)
    workers = [DasWorker(location, jobs, host, logger, name if slots == 1 else f"{name or 'w'}.slot{k}", stopping)
               for k in range(slots)]
    logger.info("WORKER: serving run %s via nameserver %s:%d with %d slot(s)", location.run_id, location.host,
                location.port, slots)
    gone = threading.Event()
    threading.Thread(target=watch_master, args=(workers, location, watch_interval, master_grace, logger, gone),
                     daemon=True).start()
    for worker in workers[1:]:
        worker.run(background=True)
    try:
        workers[0].run(background=False)
    except (Pyro4.errors.PyroError, OSError):
        if not stopping.is_set():
            raise  # deregistering after a shutdown may find the nameserver already gone
    stopping.set()
    return EXIT_MASTER_GONE if gone.is_set() else 0
