"""The BOHB worker: one evaluation = the study's trials (``--seeds-per-eval`` seeds, batched) for
``round(budget)`` epochs; loss = a quantile over the seeds of -PSNR of the target.

``compute`` never lets a non-finite loss or a numpy value reach hpbandster (see ``compat``). A worker
finds its master through the run directory or a nameserver address (``nameserver.locate``), takes
the study from there, and exits on its own when the master is gone (hpbandster's own idle timeout
dies with the master's first failed callback, so orphaned workers would otherwise live forever).
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
from hpbandster.core.worker import Worker

from bohb_das.bohb import compat
from bohb_das.bohb.nameserver import Location, find_tasks, locate
from bohb_das.bohb.rundir import LOGS
from bohb_das.bohb.study import Study
from bohb_das.errors import ConfigError
from bohb_das.profiles import load_profile

#: ``evaluate(study, config, budget, device) -> {"loss": float, "info": dict}``
Evaluate = Callable[[Study, dict[str, Any], float, str], dict[str, Any]]

EXIT_MASTER_GONE = 3


def summarize(results: Sequence[Any], target: str, quantile: float = 0.5) -> dict[str, Any]:
    """Loss = ``quantile`` over seeds of -PSNR(target) (0.5: the median), a failed seed counting as
    ``FAILED_LOSS``; the info keeps every seed's PSNRs."""
    key = "one_shot_psnr" if target == "oneshot" else "arch_psnr"
    losses = [compat.finite_loss(-getattr(r, key)) if r.status == "ok" else compat.FAILED_LOSS for r in results]
    order = sorted(range(len(results)), key=losses.__getitem__)
    representative = results[order[int(quantile * (len(order) - 1))]]
    ok = [r for r in results if r.status == "ok"]
    info = {
        "target": target,
        "quantile": quantile,
        "status": "ok" if len(ok) == len(results) else ("failed" if not ok else "partial"),
        "reason": next((r.reason for r in results if r.status != "ok"), None),
        "one_shot_psnr": statistics.median(r.one_shot_psnr for r in ok) if ok else None,
        "arch_psnr": statistics.median(r.arch_psnr for r in ok) if ok else None,
        "backprojection_psnr": results[0].backprojection_psnr,
        "genotype": representative.genotype,
        "seconds": sum(r.seconds for r in results),
        "device": results[0].device,
        "trials": [
            {k: getattr(r, k) for k in ("seed", "status", "reason", "one_shot_psnr", "arch_psnr")} for r in results
        ],
    }
    return {"loss": float(np.quantile(losses, quantile)), "info": compat.json_safe(info)}


def das_evaluate(study: Study, config: dict[str, Any], budget: float, device: str) -> dict[str, Any]:
    """The real objective: ``study.repeats`` DAS trials, batched, for ``round(budget)`` epochs."""
    from bohb_das.trial import run_trials

    spec = study.trial_spec(max(1, round(budget)), config)
    return summarize(run_trials(spec, study.trial_seeds, device=device), study.target, study.quantile)


def resolve_evaluate(evaluate: Evaluate | str | None) -> Evaluate:
    """None -> :func:`das_evaluate`; ``"module:function"`` -> that function (a custom objective)."""
    if evaluate is None:
        return das_evaluate
    if callable(evaluate):
        return evaluate
    module, sep, name = evaluate.partition(":")
    if not sep:
        raise ConfigError(f"objective must be given as module:function, got {evaluate!r}")
    return getattr(importlib.import_module(module), name)


class DasWorker(Worker):
    """hpbandster Worker with plain-value results and a watchdog on its master."""

    def __init__(self, location: Location, evaluate: Evaluate, device: str, host: str, logger, name: str | None = None):
        super().__init__(run_id=location.run_id, nameserver=location.host, nameserver_port=location.port,
                         host=host, logger=logger, id=name)
        self.location = location
        self.study = Study.from_mapping(location.task)
        self.evaluate = evaluate
        self.device = device
        self.stopping = False
        self.master_gone = False

    def compute(self, config_id, config, budget, working_directory) -> dict[str, Any]:
        result = self.evaluate(self.study, compat.plain(config), float(budget), self.device)
        loss = compat.finite_loss(result.get("loss"))
        self.logger.info("WORKER: job %s budget %g -> loss %g", tuple(config_id), float(budget), loss)
        return {"loss": loss, "info": compat.json_safe(result.get("info") or {})}

    @Pyro4.expose
    @Pyro4.oneway
    def shutdown(self) -> None:
        self.stopping = True
        super().shutdown()

    def watch_master(self, interval: float, grace: float) -> None:
        """Stops the worker once the master's published task has been unreachable for ``grace`` s."""
        last_seen = time.monotonic()
        while not self.stopping:
            time.sleep(interval)
            if self.run_id in find_tasks(self.location.host, self.location.port, timeout=interval):
                last_seen = time.monotonic()
            elif time.monotonic() - last_seen > grace and hasattr(self, "pyro_daemon"):
                self.logger.warning("WORKER: master of run %s is gone; exiting", self.run_id)
                self.master_gone = self.stopping = True
                self.pyro_daemon.shutdown()


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
) -> int:
    """Serves one master until it shuts the worker down (0) or disappears (``EXIT_MASTER_GONE``).

    ``device`` defaults to the master's; ``host`` (this worker's address as seen by the master)
    defaults to the interface that routes to the nameserver. The study, its profile included, is the
    master's; ``profile`` (a name or file) makes the worker refuse a run under any other settings.
    """
    compat.install()
    if log_path is None and run_dir is not None:
        (Path(run_dir) / LOGS).mkdir(parents=True, exist_ok=True)
        log_path = Path(run_dir) / LOGS / f"worker-{socket.gethostname()}-{os.getpid()}.log"
    logger = compat.quiet_logger(f"bohb_das.worker.{os.getpid()}", log_path)
    expected = load_profile(profile) if profile is not None else None  # a bad file fails before any wait
    location = locate(Path(run_dir) if run_dir is not None else None, nameserver, wait_s, logger)
    if expected is not None:
        running = Study.from_mapping(location.task).profile
        if expected.settings() != running.settings():
            raise ConfigError(f"run {location.run_id} uses profile {running.name!r} {running.settings()}, "
                              f"not --profile {expected.name!r} {expected.settings()}")
    worker = DasWorker(
        location, resolve_evaluate(evaluate), device or location.task.get("device", "cpu"),
        host or compat.address_towards(location.host, location.port), logger, name,
    )
    logger.info("WORKER: serving run %s via nameserver %s:%d", location.run_id, location.host, location.port)
    threading.Thread(target=worker.watch_master, args=(watch_interval, master_grace), daemon=True).start()
    try:
        worker.run(background=False)
    except (Pyro4.errors.PyroError, OSError):
        if not worker.stopping:
            raise  # deregistering after a shutdown may find the nameserver already gone
    return EXIT_MASTER_GONE if worker.master_gone else 0
