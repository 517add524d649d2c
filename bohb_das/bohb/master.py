"""The BOHB master: nameserver on an explicit host, hpbandster's BOHB, replay-based resume, re-queueing.

Resume (hpbandster cannot: its ``previous_result`` warm start restarts the brackets and crashes on
crashed runs): a resumed master runs the same deterministic Hyperband loop again. When an iteration
asks for its k-th configuration and the logs hold one under that id, the logged configuration is
reused; when a (configuration, budget) pair is submitted that has a finished logged result, the
result is registered at once, into the iteration (same successive-halving decisions) and into the
KDE model. Everything else - crashed, in flight, never started - is evaluated by workers.

Faults: a job whose worker vanished ("Worker died unexpectedly.") is submitted again instead of being
recorded as crashed; the master process bounds every Pyro call (``compat.set_comm_timeout``) so a
frozen worker is declared dead after ``ping_interval + comm_timeout`` seconds.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hpbandster.core.nameserver import NameServer

from bohb_das import kernels
from bohb_das.bench import hyperband_rungs
from bohb_das.bohb import compat
from bohb_das.bohb.compat.optimizer import HookedBOHB
from bohb_das.bohb.configspace import build_space, read_space_file
from bohb_das.bohb.nameserver import publish_task
from bohb_das.bohb.query import query
from bohb_das.bohb.records import Evaluation
from bohb_das.bohb.rundir import (
    CONFIGS, LOGS, MANIFEST, RESULTS, Logs, RunLogger, archive_logs, package_versions, read_history,
    read_manifest, remove_credentials, run_finished, run_secret, write_credentials, write_json,
)
from bohb_das.bohb.study import Study
from bohb_das.errors import ConfigError


@dataclass
class RunProgress:
    """What a progress callback sees after every event (``event``: start, result, requeued, done)."""

    event: str
    iterations_started: int
    iterations_total: int
    jobs_planned: int  # (configuration, budget) evaluations of the whole schedule
    jobs_done: int
    jobs_replayed: int
    jobs_requeued: int
    workers: int
    incumbent: dict[str, Any] | None = None
    last: dict[str, Any] | None = None


ProgressCallback = Callable[[RunProgress], None]


class DasBOHB(HookedBOHB):
    """hpbandster's BOHB with plain-Python configs and budgets, log replay and re-queued lost jobs."""

    def __init__(self, *, history: Logs, max_requeues: int, progress: ProgressCallback | None,
                 iterations_total: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.budgets = [float(b) for b in self.budgets]  # np.float64 would reach the wire and the logs
        self.config["budgets"] = self.budgets
        self.history = history
        self.replay = {key: entry for key, entry in history.results.items() if entry.finished}
        self.max_requeues = max_requeues
        self.progress = progress
        self.iterations_total = iterations_total
        self.jobs_planned = sum(n for n, _ in hyperband_rungs(iterations_total, self.min_budget, self.max_budget, self.eta))
        self.requeues: dict[tuple, int] = {}
        self.counts = {"done": 0, "replayed": 0, "requeued": 0}
        self.incumbent: dict[str, Any] | None = None

    def sample(self, config_id: compat.ConfigId, budget: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """The logged configuration for this id if there is one (replay), else a BOHB proposal."""
        logged = self.history.configs.get(config_id)
        if logged is not None:
            return copy.deepcopy(logged.config), dict(logged.info)
        return super().sample(config_id, budget)

    def logged_result(self, config_id: compat.ConfigId, budget: float) -> tuple[dict[str, float], dict[str, Any]] | None:
        entry = self.replay.pop((config_id, budget), None)
        return None if entry is None else (entry.timestamps, entry.result)

    def before_result(self, job) -> bool:
        """Re-queues a job lost with its worker (up to ``max_requeues`` times); types any other result."""
        key = (tuple(job.id), float(job.kwargs["budget"]))
        if job.exception == compat.LOST_WORKER_MESSAGE and self.requeues.get(key, 0) < self.max_requeues:
            self.requeues[key] = self.requeues.get(key, 0) + 1
            self.logger.warning("job %s lost with its worker; submitting it again", job.id)
            with self.thread_cond:
                self.counts["requeued"] += 1
            self.dispatcher.submit_job(job.id, **job.kwargs)
            self._report("requeued", job)
            return False
        if job.result is not None:  # any worker's dict, in the one form results.json holds (``records``)
            try:
                job.result = Evaluation.from_result(job.result).to_result()
            except TypeError as exc:
                job.result, job.exception = None, str(exc)
        return True

    def after_result(self, job) -> None:
        with self.thread_cond:
            self.counts["done"] += 1
            self.counts["replayed"] += int(getattr(job, "replayed", False))
            self._update_incumbent(job, float(job.kwargs["budget"]))
        self._report("result", job)

    def _update_incumbent(self, job, budget: float) -> None:
        """Best loss on the largest budget reached so far (hpbandster's incumbent rule)."""
        if job.result is None:
            return
        best = self.incumbent
        loss = job.result["loss"]
        if best is None or budget > best["budget"] or (budget == best["budget"] and loss < best["loss"]):
            self.incumbent = {"config_id": list(job.id), "budget": budget, "loss": loss,
                              "config": job.kwargs["config"]}

    def _report(self, event: str, job=None) -> None:
        if self.progress is None:
            return
        last = None
        if job is not None:
            last = {"config_id": list(job.id), "budget": float(job.kwargs["budget"]),
                    "loss": job.result["loss"] if isinstance(job.result, dict) else None,
                    "replayed": getattr(job, "replayed", False)}
        self.progress(RunProgress(event, len(self.iterations), self.iterations_total, self.jobs_planned, self.counts["done"],
                               self.counts["replayed"], self.counts["requeued"],
                               self.dispatcher.number_of_workers(), self.incumbent, last))


@dataclass
class LocalWorkers:
    """Worker subprocesses of this master; only they are ever killed, by PID."""

    processes: list[subprocess.Popen] = field(default_factory=list)

    def start(self, count: int, run_dir: Path, device: str, options: dict[str, Any]) -> None:
        # One thread per worker process: a trial's small kernels scale badly across threads, and spinning
        # OpenMP threads on a shared core slow a multi-slot worker about tenfold (measured).
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        code = "import json, sys; from bohb_das.bohb.worker import run_worker; sys.exit(run_worker(**json.loads(sys.argv[1])))"
        for index in range(count):
            log_path = run_dir / LOGS / f"worker-local-{index}.log"
            kwargs = {"wait_s": 60.0, **options, "run_dir": str(run_dir), "device": device, "name": f"local{index}",
                      "log_path": str(log_path)}
            with open(log_path.with_suffix(".out"), "ab") as out:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-c", code, json.dumps(kwargs)], env=env, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                ))

    def wait_registered(self, master: DasBOHB, slots: int, timeout: float = 60.0) -> None:
        """Waits until the dispatcher knows all ``slots`` of these workers (or one has exited, or
        ``timeout``): BOHB starts with the first worker it sees, and a rung handed out before the
        other processes' slots register would be trained by one process alone."""
        deadline = time.monotonic() + timeout
        while (master.dispatcher.number_of_workers() < slots and time.monotonic() < deadline
               and not any(p.poll() is not None for p in self.processes)):
            time.sleep(0.2)

    def all_exited(self) -> bool:
        return bool(self.processes) and all(p.poll() is not None for p in self.processes)

    def stop(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def prepare_run(run_dir: Path, study: Study | None, resume: bool, device: str,
                command_line: list[str] | None) -> dict[str, Any]:
    """Creates the manifest of a new run, or checks and extends the one of a resumed run."""
    attempt = {"started": time.time(), "command_line": command_line or sys.argv, "device": device,
               "pid": os.getpid(), "resumed": resume}
    if resume:
        manifest = read_manifest(run_dir)
        stored = Study.from_mapping(manifest)
        if study is not None and study != stored:
            diff = sorted(k for k, v in study.to_dict().items() if stored.to_dict()[k] != v)
            raise ConfigError(f"{run_dir}: --resume continues the stored study; these settings differ: {', '.join(diff)}")
        manifest["attempts"].append(attempt)
        return manifest
    if (run_dir / MANIFEST).exists() or (run_dir / RESULTS).exists() or (run_dir / CONFIGS).exists():
        raise ConfigError(f"{run_dir} already holds a run; continue it with --resume or choose a new directory")
    study = study or Study()
    study.sampling()
    space_path, definition = read_space_file(study.hp_space)
    space = build_space(definition, source=str(space_path), method=study.method)
    if study.relaxation != "softmax" and "relaxation" in space:
        raise ConfigError(f"{space_path} tunes the relaxation; --relaxation {study.relaxation} would be overridden")
    run_dir.mkdir(parents=True, exist_ok=True)
    return {**study.to_dict(), "trial_seeds": study.trial_seeds, "device": device,
            "configspace": {"path": str(space_path), "definition": definition},
            "package_versions": package_versions(), "command_line": attempt["command_line"],
            "created": attempt["started"], "attempts": [attempt]}


def run_master(
    run_dir: str | os.PathLike[str],
    study: Study | None = None,
    *,
    resume: bool = False,
    host: str = compat.LOOPBACK,
    port: int = 0,
    local_workers: int = 0,
    device: str = "cpu",
    ping_interval: int = 10,
    comm_timeout: float = 60.0,
    max_requeues: int = 3,
    worker_options: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    command_line: list[str] | None = None,
) -> dict[str, Any]:
    """Runs (or resumes) a BOHB study to the end; returns ``query.query(run_dir)``.

    ``host`` is the address workers reach the nameserver and dispatcher at (loopback for one machine,
    the node's address for several). ``local_workers`` worker subprocesses are started here; remote
    ones join with ``run_worker(run_dir)`` or ``run_worker(nameserver="HOST:PORT")``. ``worker_options``
    are JSON-able keyword arguments of ``run_worker`` for the local workers (e.g. an ``evaluate``
    "module:function" objective, ``master_grace``).
    """
    run_dir = Path(run_dir)
    if resume and run_finished(run_dir):  # nothing left to run: its logs and manifest stay as they are
        return query(run_dir)
    compat.install()
    compat.set_comm_timeout(comm_timeout)
    manifest = prepare_run(run_dir, study, resume, device, command_line)
    compat.use_secret(run_secret(run_dir))
    study = Study.from_mapping(manifest)
    attempt_no = len(manifest["attempts"])
    (run_dir / LOGS).mkdir(parents=True, exist_ok=True)
    # hpbandster's dispatcher and config generator log to "hpbandster": all of it goes to master.log
    logger = compat.quiet_logger("hpbandster", run_dir / LOGS / "master.log")
    history = read_history(run_dir) if resume else Logs({}, {})
    if resume:
        archive_logs(run_dir)
    result_logger = RunLogger(str(run_dir), overwrite=True)
    result_logger.preload(history.finished_only())

    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    np.random.seed(study.seed + 1000 * (attempt_no - 1))  # BOHB's KDE sampling uses the global RNG
    nameserver = NameServer(run_id, working_directory=None, host=host, port=port)
    ns_host, ns_port = nameserver.start()
    master = workers = None
    try:
        publish_task(ns_host, ns_port, run_id, {**study.to_dict(), "device": device})
        master = DasBOHB(
            configspace=build_space(manifest["configspace"]["definition"], seed=study.seed + attempt_no,
                                    method=study.method),
            eta=study.eta, min_budget=study.min_budget, max_budget=study.max_budget,
            run_id=run_id, nameserver=ns_host, nameserver_port=ns_port, host=ns_host,
            working_directory=str(run_dir), ping_interval=ping_interval, result_logger=result_logger,
            logger=logger, history=history, max_requeues=max_requeues, progress=progress,
            iterations_total=study.iterations, sampler=partial(study.sampling().make, seed=study.seed + attempt_no),
        )
        manifest["budgets"] = master.budgets
        manifest["attempts"][-1].update(run_id=run_id, nameserver=f"{ns_host}:{ns_port}")
        write_json(run_dir / MANIFEST, manifest)
        write_credentials(run_dir, ns_host, ns_port, run_id)
        logger.info("run %s: nameserver %s:%d, attempt %d", run_id, ns_host, ns_port, attempt_no)
        if local_workers and device == "cpu":
            kernels.load()  # built once here, announced to the user, rather than in each worker's log
        workers = LocalWorkers()
        workers.start(local_workers, run_dir, device, worker_options or {})
        workers.wait_registered(master, local_workers * (worker_options or {}).get("slots", 1))
        _run_to_end(master, study.iterations, workers, progress)
        manifest["attempts"][-1]["finished"] = time.time()
        write_json(run_dir / MANIFEST, manifest)
    finally:
        _shut_down(master, nameserver, workers, run_dir, run_id, logger)
    return query(run_dir)


def _shut_down(master: DasBOHB | None, nameserver: NameServer, workers: "LocalWorkers | None", run_dir: Path,
               run_id: str, logger) -> None:
    """Every step runs even if an earlier one fails: no nameserver or credentials are left behind."""
    steps = [
        lambda: master is not None and master.shutdown(shutdown_workers=True),
        lambda: time.sleep(0.5),  # lets shut-down workers deregister before the nameserver goes
        lambda: remove_credentials(run_dir, run_id),
        nameserver.shutdown,
        lambda: workers is not None and workers.stop(),
    ]
    for step in steps:
        try:
            step()
        except Exception:
            logger.exception("while shutting down run %s", run_id)


def _run_to_end(master: DasBOHB, iterations: int, workers: LocalWorkers, progress: ProgressCallback | None) -> None:
    """Runs the BOHB loop in a thread, so that dead local workers or Ctrl-C end it cleanly."""
    failure: list[BaseException] = []

    def loop() -> None:
        try:
            master.run(n_iterations=iterations, min_n_workers=1)
        except BaseException as exc:  # reported in the main thread
            failure.append(exc)

    thread = threading.Thread(target=loop, name="bohb-master", daemon=True)
    thread.start()
    master._report("start")
    while thread.is_alive():
        thread.join(0.5)
        if workers.all_exited() and master.dispatcher.number_of_workers() == 0:
            raise RuntimeError("all local workers exited; see logs/worker-local-*.out (continue with --resume)")
    if failure:
        raise failure[0]
    master._report("done")


def optimize(run_dir: str | os.PathLike[str], study: Study | None = None, *, n_workers: int = 2, **kwargs: Any) -> dict[str, Any]:
    """The one-machine job: nameserver on loopback, a BOHB master and ``n_workers`` local workers."""
    if n_workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {n_workers}")
    return run_master(run_dir, study, host=compat.LOOPBACK, local_workers=n_workers, **kwargs)
