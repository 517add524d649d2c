"""BOHB over 127.0.0.1 with real worker processes: end to end, faults, resume, NaN, stale credentials.

The fault tests use the cheap objectives of ``bohb_helpers`` (seconds, not minutes); the end-to-end
test runs the real DAS objective. Every process a test starts is ended by its PID; every wait is bounded.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from hpbandster.core.result import logged_results_to_HBS_result

import bohb_das.cli as cli
from bohb_das.bohb import compat
from bohb_das.bohb.master import optimize, run_master
from bohb_das.bohb.nameserver import locate, ns_proxy
from bohb_das.bohb.query import export_incumbent, format_report, nothing_succeeded, query
from bohb_das.bohb.rundir import (CREDENTIALS, SECRET, Ledger, ledger, read_credentials, read_logs, read_manifest, run_secret,
                                  write_credentials)
from bohb_das.bohb.study import Study
from bohb_das.bohb.worker import das_evaluate, job_result, run_worker
from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams, load_preset, preset_names, user_presets_dir
from bohb_das.profiles import load_profile
from bohb_das.targets import Target

ROOT = Path(__file__).resolve().parent.parent
FAST = {"ping_interval": 1, "comm_timeout": 5}
CHEAP = {"evaluate": "bohb_helpers:quadratic", "master_grace": 3.0, "watch_interval": 0.5}
CHEAP_STUDY = dict(iterations=1, min_budget=1, max_budget=3, width=8)
JOB_STARTED = re.compile(r"bohb_das\.worker\.(\d+): WORKER: start processing job \((\d+), (\d+), (\d+)\)")


@pytest.fixture(autouse=True)
def importable_helpers(monkeypatch):
    """Worker subprocesses import bohb_das and the cheap objectives of tests/bohb_helpers.py."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    monkeypatch.delenv("BOHB_TEST_SLEEP", raising=False)


def in_thread(fn, timeout: float):
    """Runs ``fn`` in a thread; the test fails (instead of hanging) when it overruns ``timeout``."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box, timeout


def finish(handle):
    thread, box, timeout = handle
    thread.join(timeout)
    assert not thread.is_alive(), f"run did not finish within {timeout} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def started_jobs(run_dir: Path) -> list[tuple[int, tuple[int, int, int]]]:
    """(worker pid, job id) for every job a worker started, from the worker logs."""
    found = []
    for log in sorted((run_dir / "logs").glob("worker-*.log")):
        for match in JOB_STARTED.finditer(log.read_text()):
            found.append((int(match[1]), tuple(int(x) for x in match.groups()[1:])))
    return found


def worker_pids(run_dir: Path) -> set[int]:
    pids = set()
    for log in (run_dir / "logs").glob("worker-*.log"):
        pids |= {int(p) for p in re.findall(r"bohb_das\.worker\.(\d+):", log.read_text())}
    return pids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_if_alive(pids) -> None:
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def strict_json_lines(path: Path) -> list:
    def refuse(token):
        raise ValueError(f"non-JSON token {token} in {path}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def hpbandster_incumbent(run_dir: Path):
    result = logged_results_to_HBS_result(str(run_dir))
    return result.get_incumbent_id(), result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the real DAS objective ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def das_run(tmp_path_factory):
    """The README job, scaled to width 8: 2 iterations on budgets 1..3 with 2 real DAS workers, every
    evaluation seed-robust over 3 seeds (``--seeds-per-eval 3``)."""
    run_dir = tmp_path_factory.mktemp("das") / "run"
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    events = []
    study = Study(formation="blur", ops="all", target="arch", iterations=2, min_budget=1, max_budget=3, width=8,
                  repeats=3)
    report = finish(in_thread(lambda: optimize(run_dir, study, n_workers=2, progress=events.append, **FAST), 300))
    return run_dir, report, events


def test_end_to_end_with_two_real_das_workers(das_run):
    run_dir, report, events = das_run
    results = strict_json_lines(run_dir / "results.json")
    assert len(results) == 6 and all(r[3] is not None for r in results)  # 3 on budget 1, 1 + 2 on budget 3
    assert sorted({r[1] for r in results}) == [1.0, 3.0]
    infos = [r[3]["info"] for r in results]
    assert all(i["status"] == "ok" and i["genotype"] and i["arch_psnr"] > 0 and i["one_shot_psnr"] > 0 for i in infos)
    assert all(math.isclose(r[3]["loss"], -r[3]["info"]["arch_psnr"]) for r in results)  # target arch, median
    for info in infos:  # the run directory keeps every seed's PSNRs
        assert [t["seed"] for t in info["trials"]] == [0, 1, 2]
        assert all(t["status"] == "ok" and t["arch_psnr"] > 0 and t["one_shot_psnr"] > 0 for t in info["trials"])
        assert info["arch_psnr"] == sorted(t["arch_psnr"] for t in info["trials"])[1]
    assert len({pid for pid, _ in started_jobs(run_dir)}) == 2  # both workers computed
    assert events[0].event == "start" and events[-1].event == "done" and events[-1].jobs_done == events[-1].jobs_planned == 6
    manifest = read_manifest(run_dir)
    assert manifest["budgets"] == [1.0, 3.0] and manifest["target"] == "arch" and manifest["trial_seeds"] == [0, 1, 2]
    assert {"hpbandster", "ConfigSpace", "numpy", "torch"} <= set(manifest["package_versions"])
    assert not (run_dir / CREDENTIALS).exists()
    best, _ = hpbandster_incumbent(run_dir)
    assert report["incumbent"]["config_id"] == list(best)
    assert report["incumbent"]["genotype"] and report["incumbent"]["arch_psnr"] > 0


@pytest.mark.slow
def test_a_multi_slot_worker_trains_a_rung_together_with_the_single_slot_results(tmp_path):
    """One worker process with 3 slots against two single-slot workers, same study and seed: the same
    configurations get the same losses (float32 rounding of a larger batch aside), and the 3 jobs of
    the first rung were trained in one model."""
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    study = Study(formation="blur", ops="all", target="arch", iterations=1, min_budget=1, max_budget=3, width=4)
    runs = {}
    for name, workers, slots in (("single", 2, 1), ("slots", 1, 3)):
        run_dir = tmp_path / name
        finish(in_thread(lambda: optimize(run_dir, study, n_workers=workers, worker_options={"slots": slots}, **FAST), 300))
        runs[name] = {(tuple(r[0]), r[1]): r[3] for r in strict_json_lines(run_dir / "results.json")}
    assert runs["single"].keys() == runs["slots"].keys() and len(runs["slots"]) == 4
    for key, single in runs["single"].items():
        assert runs["slots"][key]["loss"] == pytest.approx(single["loss"], abs=1e-3)
        assert runs["slots"][key]["info"]["genotype"] == single["info"]["genotype"]
    logs = "".join(log.read_text() for log in (tmp_path / "slots" / "logs").glob("worker-*.log"))
    assert "trained 3 job(s) of budget 1 together" in logs
    assert len({pid for pid, _ in started_jobs(tmp_path / "slots")}) == 1


@pytest.mark.slow
@pytest.mark.parametrize("system", [
    dict(space="multiscale", formation="denoise"),  # CLEARER's space
    dict(space="trilevel", method="das_one_phase", relaxation="sparsestmax"),  # Trilevel NAS
    dict(method="sparse_supernet", relaxation="identity", ops="good"),  # the sparse supernet
])
def test_bohb_optimizes_each_related_system_with_two_real_workers(tmp_path, system):
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    study = Study(**{"target": "arch", "iterations": 2, "min_budget": 1, "max_budget": 3, "width": 4, **system})
    run_dir = tmp_path / "run"
    report = finish(in_thread(lambda: optimize(run_dir, study, n_workers=2, **FAST), 300))
    results = strict_json_lines(run_dir / "results.json")
    assert len(results) == 6 and all(r[3]["info"]["status"] == "ok" for r in results)
    space = system.get("space", "sequential")
    assert all(r[3]["info"]["genotype"]["space"] == space for r in results)
    assert report["incumbent"]["arch_psnr"] > 0 and read_manifest(run_dir)["space"] == space


def test_query_agrees_with_hpbandster_and_exports_a_loadable_preset(das_run, tmp_path):
    run_dir, _, _ = das_run
    report = query(run_dir, top=3)
    best, result = hpbandster_incumbent(run_dir)
    assert tuple(report["incumbent"]["config_id"]) == best
    assert report["incumbent"]["config"] == result.get_id2config_mapping()[best]["config"]
    assert len(report["top"]) == 3 and report["top"][0]["budget"] == 3.0
    assert set(report["incumbent"]["losses"]) <= {"1.0", "3.0"}
    json.dumps(report)
    assert len(report["incumbent"]["seeds"]) == 3 and report["seeds_per_eval"] == 3
    assert "per seed (one-shot / architecture): 0: " in format_report(report)
    by_name = export_incumbent(run_dir, "my-incumbent")  # a name goes to the user's presets, not the package
    assert by_name == user_presets_dir() / "my-incumbent.yaml" and by_name.parent.parent == Path(os.environ["BOHB_DAS_HOME"])
    assert load_preset("my-incumbent") == load_preset(by_name) and "my-incumbent" in preset_names()
    assert not (ROOT / "bohb_das" / "spaces" / "presets" / "my-incumbent.yaml").exists()
    path = export_incumbent(run_dir, tmp_path / "best.yaml")
    assert load_preset(str(path)) == HParams.from_mapping(report["incumbent"]["config"])
    with pytest.raises(ConfigError, match="already exists"):
        export_incumbent(run_dir, tmp_path / "best.yaml")


def test_presets_shows_an_incumbent_beside_a_preset_and_lists_the_exported_one(das_run, tmp_path, capsys):
    run_dir, _, _ = das_run
    incumbent = query(run_dir, top=0)["incumbent"]
    export_incumbent(run_dir, "listed-incumbent")
    assert cli.main(["presets", "H2", str(run_dir), "--format", "csv", "--output", str(tmp_path / "t7.csv")]) == 0
    table = {line.split(",")[0]: line.split(",")[1:] for line in (tmp_path / "t7.csv").read_text().splitlines()}
    assert table["hyperparameter"] == ["H2", run_dir.name]
    assert table["alpha_lr"][0] == "0.0001" and float(table["alpha_lr"][1]) == pytest.approx(incumbent["hparams"]["alpha_lr"], rel=1e-5)
    assert table["incumbent budget (epochs)"] == ["--", "3"] and table["BOHB target"] == ["--", "arch"]
    assert cli.main(["presets"]) == 0
    listed = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert ["listed-incumbent", "yours"] == listed[[row[0] for row in listed].index("listed-incumbent")][:2]
    assert ["H1", "shipped"] == listed[[row[0] for row in listed].index("H1")][:2]
    assert cli.main(["presets", "H1", "H1"]) == 2 and "two sets are named 'H1'" in capsys.readouterr().err


# --- faults ----------------------------------------------------------------------------------------


def test_worker_killed_mid_job_is_rerun_on_another_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("BOHB_TEST_SLEEP", "0.7")
    run_dir = tmp_path / "run"
    handle = in_thread(lambda: run_master(run_dir, Study(**CHEAP_STUDY), local_workers=2, worker_options=CHEAP, **FAST), 90)
    pid, job = wait_for(lambda: started_jobs(run_dir)[:1], 60, "a job to start")[0]
    os.kill(pid, signal.SIGKILL)
    report = finish(handle)
    rerun = [(p, j) for p, j in started_jobs(run_dir) if j == job and p != pid]
    assert rerun, f"job {job} was not re-run on another worker"
    logs = read_logs(run_dir)
    assert all(entry.finished for entry in logs.results.values())  # nothing recorded as crashed
    assert any(cid == job for cid, _ in logs.results)
    assert len(logs.results) == 4 and report["incumbent"] is not None
    assert "submitting it again" in (run_dir / "logs" / "master.log").read_text()


def log_time(line: str) -> float:
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


@pytest.mark.slow
def test_a_frozen_worker_costs_only_its_own_job(tmp_path, monkeypatch):
    """SIGSTOP on one of two workers: the healthy one goes on taking jobs while the frozen one is
    probed (up to the comm timeout); then the frozen one is declared dead and its job re-run."""
    monkeypatch.setenv("BOHB_TEST_SLEEP", "0.3")
    run_dir = tmp_path / "run"
    handle = in_thread(lambda: run_master(run_dir, Study(**{**CHEAP_STUDY, "iterations": 3}), local_workers=2,
                                          worker_options=CHEAP, ping_interval=1, comm_timeout=6), 120)
    pid, job = wait_for(lambda: started_jobs(run_dir)[:1], 60, "a job to start")[0]
    os.kill(pid, signal.SIGSTOP)
    frozen_at = time.time()
    try:
        finish(handle)
    finally:
        kill_if_alive([pid])
    assert any(j == job and p != pid for p, j in started_jobs(run_dir))
    assert all(entry.finished for entry in read_logs(run_dir).results.values())
    dead_at = min(log_time(line) for line in (run_dir / "logs" / "master.log").read_text().splitlines()
                  if "removing dead worker" in line)
    healthy_starts = [log_time(line) for log in (run_dir / "logs").glob("worker-*.log")
                      for line in log.read_text().splitlines()
                      if "start processing job" in line and f"worker.{pid}:" not in line]
    assert dead_at - frozen_at > 3  # the frozen worker was probed for a while ...
    assert sum(frozen_at < t < dead_at for t in healthy_starts) >= 3  # ... and the run did not wait for it


@pytest.mark.slow
def test_a_revived_workers_late_result_is_superseded_by_the_requeued_copy(tmp_path, monkeypatch):
    """Frozen mid-job, declared dead, its job re-queued on the other worker, then revived: the late
    result is logged as superseded and the re-queued copy's is the one result recorded."""
    monkeypatch.setenv("BOHB_TEST_SLEEP", "2")
    run_dir = tmp_path / "run"
    handle = in_thread(lambda: run_master(run_dir, Study(**CHEAP_STUDY), local_workers=2, worker_options=CHEAP,
                                          ping_interval=1, comm_timeout=3), 120)
    pid, job = wait_for(lambda: started_jobs(run_dir)[:1], 60, "a job to start")[0]
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: any(j == job and p != pid for p, j in started_jobs(run_dir)), 30, "the job to be re-queued")
        os.kill(pid, signal.SIGCONT)
        finish(handle)
    finally:
        kill_if_alive([pid])
    master_log = (run_dir / "logs" / "master.log").read_text()
    superseded = [line for line in master_log.splitlines() if "superseded result" in line]
    assert len(superseded) == 1 and f"job {job}" in superseded[0] and f".{pid}." in superseded[0]
    assert "re-queued on" in superseded[0] and "Traceback" not in master_log
    keys = [(tuple(line[0]), line[1]) for line in strict_json_lines(run_dir / "results.json")]
    assert len(keys) == len(set(keys)) == 4 and all(line[3] is not None for line in strict_json_lines(run_dir / "results.json"))


MASTER_CODE = """
import json, sys
from bohb_das.bohb.master import run_master
from bohb_das.bohb.study import Study
kwargs = json.loads(sys.argv[2])
run_master(sys.argv[1], Study(**kwargs.pop("study")), **kwargs)
"""


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["bohb", "tpe", "smac"])  # those with a model to refit from the logged results
def test_master_killed_then_resumed_loses_no_finished_result(tmp_path, monkeypatch, sampler):
    monkeypatch.setenv("BOHB_TEST_SLEEP", "0.25")
    run_dir = tmp_path / "run"
    study = dict(iterations=2, min_budget=1, max_budget=9, width=8, sampler=sampler)  # 9+3+1 then 3+1 evaluations
    options = {"study": study, "local_workers": 2, "worker_options": CHEAP, **FAST}
    master = subprocess.Popen([sys.executable, "-c", MASTER_CODE, str(run_dir), json.dumps(options)])
    try:
        wait_for(lambda: (run_dir / "results.json").is_file()
                 and len((run_dir / "results.json").read_text().splitlines()) >= 6, 60, "6 results")
    finally:
        master.kill()
        master.wait(10)
    before = read_logs(run_dir)
    finished_before = {k: v for k, v in before.results.items() if v.finished}
    assert len(finished_before) < 17
    old_workers = worker_pids(run_dir)
    assert old_workers
    try:  # orphaned workers notice that their master is gone and exit on their own
        wait_for(lambda: not any(alive(p) for p in old_workers), 30, "orphaned workers to exit")
    finally:
        kill_if_alive(old_workers)
    assert (run_dir / CREDENTIALS).exists()  # stale credentials left behind by the killed master

    report = finish(in_thread(lambda: run_master(run_dir, resume=True, local_workers=2, worker_options=CHEAP, **FAST), 90))
    after = read_logs(run_dir)
    for key, entry in finished_before.items():
        assert after.results[key].result == entry.result and after.results[key].timestamps == entry.timestamps
    for config_id, logged in before.configs.items():  # in-flight configs were re-evaluated, not re-sampled
        assert after.configs[config_id].config == logged.config
        assert any(cid == config_id for cid, _ in after.results)
    assert len(after.results) == 17 and all(e.finished for e in after.results.values())
    assert sum(b == 9.0 for _, b in after.results) == 2
    manifest = read_manifest(run_dir)
    assert len(manifest["attempts"]) == 2 and (run_dir / "attempts" / "1" / "results.json").is_file()
    assert tuple(report["incumbent"]["config_id"]) == hpbandster_incumbent(run_dir)[0]
    assert (report["attempts"], report["lost"], report["duplicated"]) == (2, 0, 0) and report["wall_s"] > 0
    strict_json_lines(run_dir / "results.json")


def test_the_ledger_counts_attempts_wall_time_and_lost_or_duplicated_results(tmp_path):
    """A killed attempt has no finished time: it counts until its last result. A result an earlier
    attempt finished that the current logs lack is lost; one finished twice is duplicated."""
    def line(config, budget, finished, loss=-20.0):
        return json.dumps([[0, 0, config], budget, {"started": finished - 5, "finished": finished},
                           {"loss": loss, "info": {}}, None]) + "\n"
    (tmp_path / "attempts" / "1").mkdir(parents=True)
    (tmp_path / "attempts" / "1" / "results.json").write_text(line(0, 1.0, 1010) + line(1, 1.0, 1030))
    (tmp_path / "results.json").write_text(line(0, 1.0, 1010) + line(2, 1.0, 2050) + line(2, 1.0, 2060))
    manifest = {"attempts": [{"started": 1000.0}, {"started": 2000.0, "finished": 2100.0}]}
    assert ledger(tmp_path, manifest) == Ledger(attempts=2, wall_s=30.0 + 100.0, lost=1, duplicated=1)
    assert ledger(tmp_path, {}) == Ledger(0, 0.0, 1, 1)


def test_stale_credentials_do_not_mislead_a_new_worker(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_credentials(run_dir, "127.0.0.1", free_port(), "an-old-run")
    with pytest.raises(ConfigError, match="no live BOHB master"):
        locate(run_dir, wait_s=1.0)
    code = "import sys; from bohb_das.bohb.worker import run_worker; sys.exit(run_worker(sys.argv[1], evaluate='bohb_helpers:quadratic', wait_s=60, master_grace=3, watch_interval=0.5))"
    worker = subprocess.Popen([sys.executable, "-c", code, str(run_dir)])
    try:
        wait_for(lambda: any("stale" in p.read_text() for p in (run_dir / "logs").glob("worker-*.log")), 30, "the stale warning")
        report = finish(in_thread(lambda: run_master(run_dir, Study(**CHEAP_STUDY), local_workers=0, **FAST), 90))
        assert worker.wait(20) == 0  # served the new master, then was shut down by it
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert {pid for pid, _ in started_jobs(run_dir)} == {worker.pid} and report["n_results"] == 4
    assert not (run_dir / CREDENTIALS).exists()


def test_a_worker_refuses_a_run_under_another_profile_and_the_manifest_keeps_it(tmp_path):
    run_dir = tmp_path / "run"
    handle = in_thread(lambda: run_master(run_dir, Study(**CHEAP_STUDY, profile="spec-v1"), local_workers=0, **FAST), 90)
    with pytest.raises(ConfigError, match="uses profile 'spec-v1'"):
        run_worker(run_dir, evaluate="bohb_helpers:quadratic", wait_s=30, profile="paper")
    code = ("import sys; from bohb_das.bohb.worker import run_worker; sys.exit(run_worker(sys.argv[1], "
            "evaluate='bohb_helpers:quadratic', wait_s=60, master_grace=3, watch_interval=0.5, profile='spec-v1'))")
    worker = subprocess.Popen([sys.executable, "-c", code, str(run_dir)])
    try:
        report = finish(handle)
        assert worker.wait(20) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert report["n_results"] == 4 and report["profile"] == "spec-v1"
    manifest = read_manifest(run_dir)
    assert manifest["profile"] == load_profile("spec-v1").to_dict()
    assert Study.from_mapping({k: v for k, v in manifest.items() if k != "profile"}).profile.name == "spec-v1"


def test_one_worker_without_faults_proposes_the_same_configurations_with_the_same_seed(tmp_path):
    """BOHB's samples come from the study's seed; with one worker the results arrive in one order, so
    two runs agree config by config. (A resumed run does not: its new proposals are drawn from a
    seed advanced per attempt and from a model refit on the replayed results.)"""
    runs = []
    for name in ("a", "b"):
        finish(in_thread(lambda: optimize(tmp_path / name, Study(**{**CHEAP_STUDY, "iterations": 3}), n_workers=1,
                                          worker_options=CHEAP, **FAST), 120))
        runs.append([(line[0], line[1]) for line in strict_json_lines(tmp_path / name / "configs.json")])
    assert runs[0] == runs[1] and len(runs[0]) >= 6


# --- authentication ------------------------------------------------------------------------------


def test_the_run_secret_is_private_kept_and_checked(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    key = run_secret(run_dir)
    assert (run_dir / SECRET).stat().st_mode & 0o777 == 0o600 and len(key) == 64
    assert run_secret(run_dir) == key  # a resumed master keeps the run's secret
    (run_dir / SECRET).chmod(0o640)
    with pytest.raises(ConfigError, match="readable by other users"):
        run_secret(run_dir)
    with pytest.raises(ConfigError, match="cannot read the run's secret"):
        run_worker(None, "127.0.0.1:9", secret_file=tmp_path / "missing", wait_s=0)


def test_only_holders_of_the_run_secret_can_register_or_report(tmp_path):
    """A process given HOST:PORT alone, or a wrong secret, is refused by the nameserver and by the
    dispatcher; a worker given a copy of the secret (--secret-file) serves the run."""
    run_dir = tmp_path / "run"
    handle = in_thread(lambda: run_master(run_dir, Study(**CHEAP_STUDY), local_workers=0, **FAST), 120)
    credentials = wait_for(lambda: read_credentials(run_dir), 30, "the master's credentials")
    address = f"{credentials.host}:{credentials.port}"
    wrong = tmp_path / "wrong"
    wrong.write_text("0" * 64)
    wrong.chmod(0o600)
    cli_worker = [sys.executable, "-c", "import sys, bohb_das.cli as c; sys.exit(c.main(sys.argv[1:]))",
                  "worker", "--nameserver", address, "--wait", "20"]
    for extra in ([], ["--secret-file", str(wrong)]):
        refused = subprocess.run(cli_worker + extra, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
        assert "refused this process: it needs the run's secret" in refused.stderr
    import Pyro4

    with ns_proxy(credentials.host, credentials.port) as ns:  # this test process runs the master: it has the key
        dispatcher = ns.lookup(f"hpbandster.run_{credentials.run_id}.dispatcher")
    intruders = [(ns_proxy(credentials.host, credentials.port), "register", ("hpbandster.run_x.worker.intruder", dispatcher)),
                 (Pyro4.Proxy(dispatcher), "register_result", ((0, 0, 0), {"result": {"loss": -999.0}, "exception": None}))]
    for proxy, method, args in intruders:
        proxy._pyroHmacKey = None  # what a process given only HOST:PORT sends
        with pytest.raises(Pyro4.errors.CommunicationError, match="hmac"):
            getattr(proxy, method)(*args)
    copy = tmp_path / "copy-of-secret"
    copy.write_bytes((run_dir / SECRET).read_bytes())
    copy.chmod(0o600)
    code = ("import sys; from bohb_das.bohb.worker import run_worker; sys.exit(run_worker(None, sys.argv[1], "
            "secret_file=sys.argv[2], log_path=sys.argv[3], evaluate='bohb_helpers:quadratic', wait_s=60, "
            "master_grace=3, watch_interval=0.5))")
    worker = subprocess.Popen([sys.executable, "-c", code, address, str(copy), str(run_dir / "logs" / "worker-remote.log")])
    try:
        report = finish(handle)
        assert worker.wait(20) == 0
    finally:
        kill_if_alive([worker.pid])
        worker.wait()
    assert report["n_results"] == 4 and {pid for pid, _ in started_jobs(run_dir)} == {worker.pid}
    assert all(line[3]["loss"] > -999 for line in strict_json_lines(run_dir / "results.json"))


@pytest.fixture
def two_hosts():
    """Two network namespaces joined by a veth pair (10.231.7.1 <-> 10.231.7.2), made and removed
    here; skipped where namespaces cannot be made (no root, no ip tool)."""
    tag = f"bd{os.getpid() % 100000}"
    a, b = f"{tag}a", f"{tag}b"
    setup = [["ip", "netns", "add", a], ["ip", "netns", "add", b],
             ["ip", "link", "add", f"{tag}va", "type", "veth", "peer", "name", f"{tag}vb"],
             ["ip", "link", "set", f"{tag}va", "netns", a], ["ip", "link", "set", f"{tag}vb", "netns", b],
             ["ip", "-n", a, "addr", "add", "10.231.7.1/24", "dev", f"{tag}va"],
             ["ip", "-n", b, "addr", "add", "10.231.7.2/24", "dev", f"{tag}vb"]]
    setup += [["ip", "-n", ns, "link", "set", dev, "up"] for ns, dev in ((a, "lo"), (b, "lo"), (a, f"{tag}va"), (b, f"{tag}vb"))]
    try:
        for command in setup:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
            if done.returncode != 0:
                pytest.skip(f"cannot make network namespaces here ({' '.join(command)}: {done.stderr.strip()})")
        yield (a, "10.231.7.1"), (b, "10.231.7.2")
    except FileNotFoundError:
        pytest.skip("no ip tool to make network namespaces")
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


@pytest.mark.slow
def test_a_worker_on_a_second_host_joins_with_the_secret_and_an_intruder_gets_nothing(two_hosts, tmp_path, monkeypatch):
    """Master and one local worker in one namespace, a worker in the other (reading the secret
    through the shared filesystem), and an intruder there with HOST:PORT alone."""
    (host_a, address_a), (host_b, _) = two_hosts
    monkeypatch.setenv("BOHB_TEST_SLEEP", "0.5")
    run_dir = tmp_path / "run"
    kwargs = {"study": {**CHEAP_STUDY, "iterations": 3}, "host": address_a, "local_workers": 1,
              "worker_options": CHEAP, **FAST}
    joined = tmp_path / "remote-ran-a-job"  # the local worker's jobs wait for it: the remote joins before the end
    master = subprocess.Popen(["ip", "netns", "exec", host_a, sys.executable, "-c", MASTER_CODE, str(run_dir), json.dumps(kwargs)],
                              env={**os.environ, "BOHB_TEST_AWAIT": str(joined)})
    remote = None
    try:
        credentials = wait_for(lambda: read_credentials(run_dir), 60, "the master's credentials")
        assert credentials.host == address_a
        intruder = subprocess.run(
            ["ip", "netns", "exec", host_b, sys.executable, "-c", "import sys, bohb_das.cli as c; sys.exit(c.main(sys.argv[1:]))",
             "worker", "--nameserver", f"{address_a}:{credentials.port}", "--wait", "20"],
            capture_output=True, text=True, timeout=60)
        assert intruder.returncode == 2 and "refused this process" in intruder.stderr
        code = ("import sys; from bohb_das.bohb.worker import run_worker; sys.exit(run_worker(sys.argv[1], "
                "evaluate='bohb_helpers:quadratic', wait_s=60, master_grace=3, watch_interval=0.5, name='remote'))")
        remote = subprocess.Popen(["ip", "netns", "exec", host_b, sys.executable, "-c", code, str(run_dir)],
                                  env={**os.environ, "BOHB_TEST_MARK": str(joined)})
        assert master.wait(120) == 0 and remote.wait(30) == 0
    finally:
        kill_if_alive([p.pid for p in (master, remote) if p is not None])
        for process in (master, remote):
            if process is not None:
                process.wait()
    pids = {pid for pid, _ in started_jobs(run_dir)}
    assert remote.pid in pids and len(pids) == 2  # jobs ran on both hosts
    results = strict_json_lines(run_dir / "results.json")
    assert len(results) == len({(tuple(r[0]), r[1]) for r in results}) and all(r[3] is not None for r in results)


# --- samplers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler, budgets, results", [("hyperband", {1.0, 3.0}, 6), ("random-search", {3.0}, 4),
                                                        ("tpe", {1.0, 3.0}, 6), ("smac", {1.0, 3.0}, 6)])
def test_each_sampler_runs_with_two_workers_on_its_schedule(tmp_path, sampler, budgets, results):
    run_dir = tmp_path / "run"
    study = Study(**{**CHEAP_STUDY, "iterations": 4 if sampler == "random-search" else 2}, sampler=sampler)
    finish(in_thread(lambda: optimize(run_dir, study, n_workers=2, worker_options=CHEAP, **FAST), 90))
    logged = strict_json_lines(run_dir / "results.json")
    assert len(logged) == results and {r[1] for r in logged} == budgets
    assert not any(info.get("model_based_pick") for _, _, info in strict_json_lines(run_dir / "configs.json"))
    manifest = read_manifest(run_dir)
    assert manifest["sampler"] == sampler and manifest["min_budget"] == min(budgets)
    assert len({pid for pid, _ in started_jobs(run_dir)}) == 2


@pytest.mark.slow
def test_hyperband_never_makes_a_model_based_pick_where_bohb_does(tmp_path):
    """Five iterations on budgets 1..9 (37 jobs): after the fourth, budget 1 holds the 2d + 2 = 18
    results BOHB's KDE needs, and the fifth's new configurations come from it; random sampling never
    makes such a pick; the same schedule either way."""
    picks = {}
    for sampler in ("bohb", "hyperband"):
        run_dir = tmp_path / sampler
        study = Study(iterations=5, min_budget=1, max_budget=9, width=8, seed=2, sampler=sampler)
        finish(in_thread(lambda: optimize(run_dir, study, n_workers=2, worker_options=CHEAP, **FAST), 150))
        assert len(strict_json_lines(run_dir / "results.json")) == 37
        picks[sampler] = sum(bool(info.get("model_based_pick")) for _, _, info in strict_json_lines(run_dir / "configs.json"))
    assert picks["bohb"] > 0 and picks["hyperband"] == 0


@pytest.mark.parametrize("sampler, model_share", [("tpe", 1.0), ("smac", 0.7)])  # SMAC interleaves random picks
def test_a_model_sampler_proposes_closer_to_the_optimum_after_its_start_up(sampler, model_share):
    """Fed one result at a time on the quadratic objective (optimum weight_lr = 1e-2), the picks of
    TPE's or SMAC's model after the 10 random start-up ones lie nearer the optimum (SMAC's own
    interleaved random picks are not model-based)."""
    from types import SimpleNamespace

    from bohb_das.bohb.configspace import load_space
    from bohb_das.bohb.samplers import SMACGenerator, TPEGenerator

    kind = {"tpe": TPEGenerator, "smac": SMACGenerator}[sampler]
    generator = kind(load_space("das", seed=0, method="das"), seed=0)
    distance, picks = {True: [], False: []}, []
    for _ in range(60):
        config, info = generator.get_config(1.0)
        loss = (math.log10(config["weight_lr"]) + 2) ** 2
        generator.new_result(SimpleNamespace(result={"loss": loss}, kwargs={"config": config, "budget": 1.0}))
        distance[info["model_based_pick"]].append(abs(math.log10(config["weight_lr"]) + 2))
        picks.append(info["model_based_pick"])
    assert not any(picks[:kind.STARTUP]) and sum(picks[kind.STARTUP:]) >= model_share * (60 - kind.STARTUP)
    assert statistics.median(distance[True]) < 0.6 * statistics.median(distance[False])


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["tpe", "smac"])
def test_a_model_sampler_makes_model_based_picks_in_a_run(tmp_path, sampler):
    """Five iterations on budgets 1..27 (105 jobs) with two workers: TPE's or SMAC's model proposes
    once a budget has its start-up results (a killed run resumed: the resume test)."""
    run_dir = tmp_path / "run"
    study = Study(iterations=5, min_budget=1, max_budget=27, width=8, seed=3, sampler=sampler)
    finish(in_thread(lambda: optimize(run_dir, study, n_workers=2, worker_options=CHEAP, **FAST), 150))
    assert len(strict_json_lines(run_dir / "results.json")) == 105
    assert sum(bool(info["model_based_pick"]) for _, _, info in strict_json_lines(run_dir / "configs.json")) >= 10


def test_a_sampler_whose_package_is_missing_names_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    study = Study(**CHEAP_STUDY, sampler="tpe")  # a worker rebuilds it without needing the sampler
    with pytest.raises(ConfigError, match=r"the tpe sampler needs optuna: pip install 'bohb-das\[tpe\]'"):
        optimize(tmp_path / "run", study, n_workers=1, worker_options=CHEAP, **FAST)
    assert not (tmp_path / "run").exists()  # refused before the run directory is made


def test_an_unknown_sampler_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="unknown sampler 'tpe2'"):
        optimize(tmp_path / "run", Study(**CHEAP_STUDY, sampler="tpe2"), n_workers=1, worker_options=CHEAP, **FAST)
    assert not (tmp_path / "run").exists()


def test_a_comparison_runs_in_parts_and_draws_every_samplers_anytime_curve(tmp_path):
    from bohb_das.bohb.compare import anytime, curves, final_table, run_comparison, run_dir_of, write_comparison

    root, heard = tmp_path / "cmp", []
    launch = partial(optimize, n_workers=1, worker_options=CHEAP, **FAST)
    study = Study(**CHEAP_STUDY)
    run_comparison(root, study, ["bohb", "hyperband"], 2, launch, on_run=lambda d, what: heard.append((d.name, what)))
    assert heard == [("bohb-0", "started"), ("bohb-1", "started"), ("hyperband-0", "started"), ("hyperband-1", "started")]
    assert read_manifest(run_dir_of(root, "bohb", 1))["seed"] == 1000  # repetition r: the study's seed + 1000 r
    curve = anytime(run_dir_of(root, "hyperband", 0))
    assert len(curve) == 4 and curve["epochs"].iloc[-1] == 3 * 1 + 3  # budgets 1, 1, 1, then 3
    largest = [r[3]["loss"] for r in strict_json_lines(run_dir_of(root, "hyperband", 0) / "results.json") if r[1] == 3.0]
    assert curve["psnr"].iloc[-1] == -min(largest)  # the best on the largest budget
    by_epochs = curves({"bohb": [run_dir_of(root, "bohb", r) for r in range(2)]}, "epochs")["bohb"].dropna()
    assert len(by_epochs) > 100 and (by_epochs["low"] <= by_epochs["median"]).all()  # one incumbent from the first result
    assert (by_epochs["median"] <= by_epochs["high"]).all()
    rows = final_table({"hyperband": [run_dir_of(root, "hyperband", r) for r in range(2)]})
    assert rows[0]["repetitions"] == rows[0]["finished"] == 2 and rows[0]["incumbent PSNR median"] != "--"

    manifest = read_manifest(run_dir_of(root, "bohb", 0))  # as if cut off: its last attempt never finished
    del manifest["attempts"][-1]["finished"]
    (run_dir_of(root, "bohb", 0) / "manifest.json").write_text(json.dumps(manifest))
    heard.clear()
    run_comparison(root, study, ["bohb", "hyperband"], 2, launch, on_run=lambda d, what: heard.append((d.name, what)))
    assert heard == [("bohb-0", "resumed"), ("bohb-1", "read"), ("hyperband-0", "read"), ("hyperband-1", "read")]
    text = write_comparison(root, ["bohb", "hyperband"], 2).read_text()
    assert text.count("<img class='figure'") == 2 and "hyperband" in text and "incumbent PSNR median" in text
    with pytest.raises(ConfigError, match="unknown sampler 'nope'"):
        run_comparison(tmp_path / "other", study, ["bohb", "nope"], 1, launch)
    assert not (tmp_path / "other").exists()


# --- non-finite losses --------------------------------------------------------------------------


def test_nan_losses_become_the_finite_failed_loss(tmp_path):
    run_dir = tmp_path / "run"
    options = {**CHEAP, "evaluate": "bohb_helpers:nan_sometimes"}
    study = Study(iterations=2, min_budget=1, max_budget=9, width=8, seed=4)
    finish(in_thread(lambda: run_master(run_dir, study, local_workers=1, worker_options=options, **FAST), 90))
    results = strict_json_lines(run_dir / "results.json")
    configs = {tuple(c[0]): c[1] for c in strict_json_lines(run_dir / "configs.json")}
    failed = [r for r in results if configs[tuple(r[0])]["weight_lr"] > 0.01]
    assert failed and all(r[3]["loss"] == compat.FAILED_LOSS and r[4] is None for r in failed)
    assert all(r[3] is not None and math.isfinite(r[3]["loss"]) for r in results)
    best, _ = hpbandster_incumbent(run_dir)
    assert configs[best]["weight_lr"] <= 0.01


def test_a_run_where_every_evaluation_failed_says_so_and_exports_nothing(tmp_path):
    run_dir = tmp_path / "run"
    options = {**CHEAP, "evaluate": "bohb_helpers:always_nan"}
    study = Study(iterations=1, min_budget=1, max_budget=3, width=8)
    report = finish(in_thread(lambda: run_master(run_dir, study, local_workers=1, worker_options=options, **FAST), 90))
    assert report["n_results"] == report["n_failed"] == 4 and nothing_succeeded(report)
    assert "4 results (0 crashed, 4 failed)" in format_report(report)
    with pytest.raises(ConfigError, match="the incumbent's evaluation failed"):
        export_incumbent(run_dir, "never")
    assert not nothing_succeeded(query(tmp_path / "run") | {"n_failed": 3})


def test_damaged_log_lines_are_reported_with_their_line_and_kept_by_a_resume(tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    study = Study(**CHEAP_STUDY)
    finish(in_thread(lambda: run_master(run_dir, study, local_workers=1, worker_options=CHEAP, **FAST), 90))
    lines = (run_dir / "results.json").read_text().splitlines()
    damaged = "\n".join([lines[0], lines[1][: len(lines[1]) // 2], "[1, 2]", *lines[2:]]) + "\n"
    (run_dir / "results.json").write_text(damaged)
    report = query(run_dir)
    assert len(report["damaged"]) == 2 and report["n_results"] == len(lines) - 1
    assert report["damaged"][0].startswith(f"{run_dir / 'results.json'}: line 2: not JSON")
    assert report["damaged"][1] == f"{run_dir / 'results.json'}: line 3: not a results.json entry"
    if "bohb" not in cli.SUBCOMMAND_MODULES:
        monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", (*cli.SUBCOMMAND_MODULES, "bohb"))
    main = cli.main
    assert main(["query", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "line 2: not JSON" in err and "line 3: not a results.json entry" in err and "--tolerate-damaged" in err
    assert main(["query", str(run_dir), "--tolerate-damaged"]) == 0
    finish(in_thread(lambda: run_master(run_dir, resume=True, local_workers=1, worker_options=CHEAP, **FAST), 90))
    assert (run_dir / "attempts" / "1" / "results.json").read_text() == damaged  # the damaged file is kept
    assert query(run_dir)["damaged"] == [] and query(run_dir)["n_results"] == len(lines)  # its job ran again


def test_failed_trials_summarize_to_the_failed_loss():
    from bohb_das.trial import TrialResult, TrialSpec

    def trial(seed, status, psnr):
        return TrialResult(seed=seed, status=status, reason=None if status == "ok" else "loss diverged (nan)",
                           one_shot_psnr=psnr, arch_psnr=psnr + 1, genotype={"ops": [seed]} if status == "ok" else None,
                           alphas=[], seconds=1.0, device="cpu", backprojection_psnr=15.0, spec=TrialSpec())

    failed = job_result([trial(0, "failed", math.nan)], Target.ARCH)
    assert failed.loss == compat.FAILED_LOSS and failed.failed and failed.info.status == "failed"
    assert failed.info.arch_psnr is None and "diverged" in failed.info.reason
    wire = failed.to_result()
    json.dumps(wire, allow_nan=False)
    assert wire["info"]["trials"][0]["one_shot_psnr"] is None  # NaN is not JSON
    mixed = job_result([trial(0, "ok", 20.0), trial(1, "failed", math.nan), trial(2, "ok", 24.0)], Target.ONE_SHOT)
    # median of (-20, FAILED, -24) is -20, and the genotype is that seed's
    assert mixed.loss == -20.0 and mixed.info.genotype == {"ops": [0]} and mixed.info.status == "partial"


def test_one_target_vocabulary_reads_the_earlier_spellings():
    assert Study(target="oneshot", retrain=False).target is Target.ONE_SHOT  # run manifests of earlier versions
    assert Study.from_mapping({"target": "final"}).to_dict()["target"] == "arch"
    with pytest.raises(ConfigError, match=r"^target must be one of arch, one-shot, got 'best'$"):
        Study(target="best")


def test_a_one_shot_study_without_retraining_records_no_architecture_psnr():
    study = Study(target="one-shot", retrain=False, width=4, repeats=2)
    (result,) = das_evaluate(study, [{}], 1.0, "cpu")
    assert result.info.arch_psnr is None and result.info.one_shot_psnr > 0
    assert result.loss == -result.info.one_shot_psnr and result.info.status == "ok"


def test_quantile_sets_how_pessimistic_the_seed_robust_loss_is():
    from bohb_das.trial import TrialResult, TrialSpec

    results = [TrialResult(seed=s, status="ok", reason=None, one_shot_psnr=p, arch_psnr=p, genotype={"ops": [s]},
                           alphas=[], seconds=1.0, device="cpu", backprojection_psnr=15.0, spec=TrialSpec())
               for s, p in enumerate([20.0, 26.0, 23.0])]
    assert job_result(results, Target.ARCH).loss == -23.0  # the median
    worst = job_result(results, Target.ARCH, quantile=1.0)
    assert worst.loss == -20.0 and worst.info.genotype == {"ops": [0]}
    assert [t.arch_psnr for t in worst.info.trials] == [20.0, 26.0, 23.0]  # every seed is kept


def test_conditional_space_runs_under_bohb_with_model_based_picks(tmp_path):
    """The `beyond` space (relaxation settings conditional on the relaxation, ZARTS settings on the
    method): every logged config holds exactly its active hyperparameters, and BOHB's KDE, which
    imputes the inactive ones, gets to make picks. With 14 dimensions hpbandster's KDE needs 30 results
    on one budget: the first bracket puts 27 on budget 1, and the fifth iteration's later configurations
    (sampled as workers ask for them) come from the model."""
    run_dir = tmp_path / "run"
    study = Study(iterations=5, min_budget=1, max_budget=27, width=8, seed=2, hp_space="beyond", method="das")
    finish(in_thread(lambda: run_master(run_dir, study, local_workers=2, worker_options=CHEAP, **FAST), 150))
    logged = strict_json_lines(run_dir / "configs.json")
    active = {"gumbel": {"gumbel_tau_max", "gumbel_tau_min"}, "sparsestmax": {"sparsestmax_ramp", "sparsestmax_radius"},
              "sigmoid": {"zero_one_weight"}, "softmax": {"entropy_weight"}, "sparsemax": set(), "identity": set()}
    for _, config, _ in logged:
        conditional = set(config) & set().union(*active.values())
        assert conditional == active[config["relaxation"]]
        assert not {"zo_samples", "zo_radius", "zo_inner_steps", "lasso_lambda"} & set(config)  # das's run
        HParams.from_mapping(config)  # every config is a valid trial
    assert len({c["relaxation"] for _, c, _ in logged}) >= 3
    assert any(info.get("model_based_pick") for _, _, info in logged)
    assert len(strict_json_lines(run_dir / "results.json")) == 105  # brackets of 40, 13, 8, 4 and 40 jobs


def test_relaxation_fixed_by_flag_and_tuned_by_the_space_is_refused(tmp_path):
    study = Study(iterations=1, min_budget=1, max_budget=3, hp_space="beyond", relaxation="gumbel")
    with pytest.raises(ConfigError, match="tunes the relaxation"):
        run_master(tmp_path / "run", study, local_workers=1, worker_options=CHEAP, **FAST)


def test_a_fixed_relaxation_reaches_the_trials_and_the_exported_incumbent(tmp_path):
    study = Study(relaxation="gumbel", **CHEAP_STUDY)
    assert study.trial_spec(2, {"weight_lr": 0.01}).hparams.relaxation == "gumbel"
    run_dir = tmp_path / "run"
    finish(in_thread(lambda: run_master(run_dir, study, local_workers=1, worker_options=CHEAP, **FAST), 60))
    assert query(run_dir)["incumbent"]["hparams"]["relaxation"] == "gumbel"
    assert load_preset(str(export_incumbent(run_dir, tmp_path / "best.yaml"))).relaxation == "gumbel"
