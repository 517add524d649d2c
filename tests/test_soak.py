"""Fault soak, outside the default suite: ``python -m pytest -m soak -s tests/test_soak.py``.

A bounded BOHB run (the cheap objective of ``bohb_helpers`` on three worker processes) while this
test, the chaos process, SIGKILLs, SIGSTOPs and SIGCONTs random workers and SIGKILLs and resumes
the master, as an operator would. At the end every (configuration, budget) the schedule asked for
has exactly one finished result, every result that had finished before a master was killed is still
there with its loss, and the reported incumbent is the best recorded result. The figures are
printed and written to ``SOAK_REPORT`` (a JSON file) when set. ``SOAK_SECONDS`` (default 120)
bounds the chaos, ``SOAK_SEED`` (default 0) picks the faults. Every process is ended by its PID.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bohb_das.bench import hyperband_rungs
from bohb_das.bohb.query import query
from bohb_das.bohb.rundir import read_logs

pytestmark = pytest.mark.soak

ROOT = Path(__file__).resolve().parent.parent
STUDY = dict(iterations=6, min_budget=1, max_budget=9, eta=3, width=8)
MASTER = ("import json, sys; from bohb_das.bohb.master import run_master; from bohb_das.bohb.study import Study; "
          "k = json.loads(sys.argv[2]); run_master(sys.argv[1], Study(**k.pop('study')), **k)")
WORKER = ("import sys; from bohb_das.bohb.worker import run_worker; sys.exit(run_worker(sys.argv[1], "
          "evaluate='bohb_helpers:quadratic', wait_s=120, master_grace=8, watch_interval=0.5))")


class Chaos:
    """The master and workers of one run, and the faults done to them."""

    def __init__(self, run_dir: Path, rng: random.Random):
        self.run_dir, self.rng = run_dir, rng
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
                    "BOHB_TEST_SLEEP": "0.3", "OMP_NUM_THREADS": "1"}
        self.master: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.stopped: dict[int, float] = {}  # pid -> when to SIGCONT it
        self.faults: Counter = Counter()
        self.survivors: dict[tuple, float] = {}  # (config_id, budget) -> loss, finished before a master kill

    def start_master(self, resume: bool) -> None:
        kwargs = {"study": STUDY, "local_workers": 0, "ping_interval": 1, "comm_timeout": 4, "max_requeues": 1000,
                  "resume": resume}
        self.master = subprocess.Popen([sys.executable, "-c", MASTER, str(self.run_dir), json.dumps(kwargs)],
                                       env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.master_started = time.monotonic()

    def keep_workers(self, count: int = 3) -> None:
        self.workers = [w for w in self.workers if w.poll() is None]
        while len(self.workers) < count:
            self.workers.append(subprocess.Popen([sys.executable, "-c", WORKER, str(self.run_dir)], env=self.env,
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def tick(self) -> None:
        now = time.monotonic()
        for pid, when in list(self.stopped.items()):
            if now >= when:
                self._signal(pid, signal.SIGCONT)
                del self.stopped[pid]
        running = [w for w in self.workers if w.poll() is None and w.pid not in self.stopped]
        action = self.rng.choices(["kill worker", "stop worker", "kill master", "none"], [3, 3, 1, 3])[0]
        if action == "kill master" and now - self.master_started > 8:
            self.survivors.update({key: e.result["loss"] for key, e in read_logs(self.run_dir).results.items()
                                   if e.finished})
            self._signal(self.master.pid, signal.SIGKILL)
            self.master.wait()
            self.faults["master SIGKILL (then resumed)"] += 1
            self.start_master(resume=True)
        elif action in ("kill worker", "stop worker") and running:
            victim = self.rng.choice(running)
            if action == "kill worker":
                self._signal(victim.pid, signal.SIGKILL)
                self.faults["worker SIGKILL"] += 1
            else:
                self._signal(victim.pid, signal.SIGSTOP)
                self.stopped[victim.pid] = now + self.rng.uniform(1.0, 10.0)  # beyond the 4 s comm timeout at times
                self.faults["worker SIGSTOP (then SIGCONT)"] += 1
        self.keep_workers()

    def release(self) -> None:
        for pid in list(self.stopped):
            self._signal(pid, signal.SIGCONT)
        self.stopped.clear()

    def end(self) -> None:
        self.release()
        for process in [self.master, *self.workers]:
            if process is not None and process.poll() is None:
                process.kill()
            if process is not None:
                process.wait()

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


@pytest.mark.timeout(1200)
def test_a_run_under_faults_keeps_exactly_one_result_per_job(tmp_path):
    seconds = float(os.environ.get("SOAK_SECONDS", "120"))
    chaos = Chaos(tmp_path / "run", random.Random(int(os.environ.get("SOAK_SEED", "0"))))
    chaos.start_master(resume=False)
    started = time.monotonic()
    try:
        while chaos.master.poll() is None or chaos.master.returncode != 0:
            assert time.monotonic() - started < seconds + 600, "the run did not finish within 10 minutes of the chaos"
            if chaos.master.poll() is not None:  # a master that died on its own is resumed too
                chaos.faults["master exited (then resumed)"] += 1
                chaos.start_master(resume=True)
            if time.monotonic() - started < seconds:
                chaos.tick()
            else:
                chaos.release()
                chaos.keep_workers()
            time.sleep(chaos.rng.uniform(1.0, 2.5))
    finally:
        chaos.end()
    results = [json.loads(line) for line in (chaos.run_dir / "results.json").read_text().splitlines()]
    keys = Counter((tuple(r[0]), float(r[1])) for r in results)
    finished = {(tuple(r[0]), float(r[1])): r[3]["loss"] for r in results if r[3] is not None}
    planned = planned_jobs()
    asked = Counter((key[0][0], key[1]) for key in keys)
    master_log = (chaos.run_dir / "logs" / "master.log").read_text()
    report = query(chaos.run_dir)
    best_budget = max(budget for _, budget in finished)
    best = min(loss for (_, budget), loss in finished.items() if budget == best_budget)
    figures = {
        "chaos seconds": seconds, "faults": dict(chaos.faults), "faults total": sum(chaos.faults.values()),
        "attempts": len(json.loads((chaos.run_dir / "manifest.json").read_text())["attempts"]),
        "jobs re-queued": master_log.count("submitting it again"),
        "late results superseded": master_log.count("superseded result"),
        "results": len(results), "planned": sum(planned.values()),
        "duplicates": sum(c - 1 for c in keys.values()),
        "results lost": sum(key not in finished or finished[key] != loss for key, loss in chaos.survivors.items()),
        "unfinished": len(keys) - len(finished),
    }
    print("\nsoak:", json.dumps(figures, indent=2))
    if os.environ.get("SOAK_REPORT"):
        Path(os.environ["SOAK_REPORT"]).write_text(json.dumps(figures, indent=2) + "\n")
    assert figures["duplicates"] == 0 and figures["results lost"] == 0 and figures["unfinished"] == 0
    assert asked == planned  # every rung of the schedule, with its size
    assert report["incumbent"]["loss"] == best and report["incumbent"]["budget"] == best_budget


def planned_jobs() -> Counter:
    """(iteration, budget) -> how many configurations the schedule evaluates there."""
    schedule = lambda iterations: hyperband_rungs(iterations, STUDY["min_budget"], STUDY["max_budget"], STUDY["eta"])
    planned: Counter = Counter()
    for iteration in range(STUDY["iterations"]):
        for size, epochs in schedule(iteration + 1)[len(schedule(iteration)):]:  # this iteration's rungs
            planned[iteration, float(epochs)] += size
    return planned
