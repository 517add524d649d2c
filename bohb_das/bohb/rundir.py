"""The run directory (SPEC 7): manifest, hpbandster's logs, nameserver credentials, worker logs.

Layout::

    RUN/manifest.json      study, hyperparameter space, budgets, package versions, attempts
    RUN/configs.json       hpbandster json_result_logger format, one JSON list per line
    RUN/results.json       (read by hpbandster.core.result.logged_results_to_HBS_result)
    RUN/nameserver.json    credentials of the live master: host, port, run_id (removed on exit)
    RUN/secret             the run's key for Pyro's message authentication (mode 0600, kept on resume)
    RUN/logs/              master.log, worker-*.log
    RUN/attempts/N/        the logs as they were when attempt N+1 resumed the run

Reading is tolerant of a last line cut short by a killed master, and a resume reads the backups of
every attempt as well, so that no finished result is lost even if a resume itself is killed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable

from hpbandster.core.result import json_result_logger

from bohb_das.bohb.compat import ConfigId, json_safe, plain
from bohb_das.bohb.records import Evaluation
from bohb_das.errors import ConfigError

MANIFEST = "manifest.json"
CREDENTIALS = "nameserver.json"
SECRET = "secret"
CONFIGS = "configs.json"
RESULTS = "results.json"
LOGS = "logs"
ATTEMPTS = "attempts"


@dataclass(frozen=True)
class LoggedConfig:
    config: dict[str, Any]
    info: dict[str, Any]


@dataclass(frozen=True)
class LoggedResult:
    """One results.json line; ``result`` is None for a crashed evaluation."""

    config_id: ConfigId
    budget: float
    timestamps: dict[str, float]
    result: dict[str, Any] | None
    exception: str | None

    @property
    def finished(self) -> bool:
        return isinstance(self.result, dict) and "loss" in self.result and self.exception is None

    @cached_property
    def evaluation(self) -> Evaluation | None:
        """The finished evaluation, typed (read once: query asks for it several times); None for a
        crashed one."""
        return Evaluation.from_result(self.result) if self.finished else None


@dataclass
class Logs:
    configs: dict[ConfigId, LoggedConfig]
    results: dict[tuple[ConfigId, float], LoggedResult]  # the last line per (config, budget) wins
    damaged: list[str] = field(default_factory=list)  # "FILE: line N: problem", for every unreadable line

    def merge(self, other: "Logs") -> None:
        self.damaged += other.damaged
        for key, value in other.configs.items():
            self.configs.setdefault(key, value)
        for key, value in other.results.items():
            if value.finished or key not in self.results:
                self.results[key] = value

    def finished_only(self) -> "Logs":
        return Logs(dict(self.configs), {k: v for k, v in self.results.items() if v.finished}, list(self.damaged))


@dataclass(frozen=True)
class Credentials:
    """Where the live master's nameserver listens; ``run_id`` tells a stale file from a live one."""

    host: str
    port: int
    run_id: str
    pid: int
    hostname: str


def write_json(path: Path, data: Any) -> None:
    """Atomic write (temp file + rename): readers on a shared filesystem never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(json_safe(data), indent=2) + "\n")
    os.replace(tmp, path)


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{run_dir} is not a run directory (no {MANIFEST})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return manifest


def run_finished(run_dir: Path) -> bool:
    """Whether the run's last attempt ran to its end and its logs are whole: resuming it would only
    add an attempt (a damaged line's job, in contrast, runs again)."""
    attempts = read_manifest(run_dir).get("attempts") if (Path(run_dir) / MANIFEST).is_file() else None
    return bool(attempts) and "finished" in attempts[-1] and not read_logs(run_dir).damaged


def package_versions() -> dict[str, str]:
    names = ("bohb-das", "hpbandster", "ConfigSpace", "numpy", "torch", "Pyro4", "serpent", "statsmodels", "scipy")
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def write_credentials(run_dir: Path, host: str, port: int, run_id: str) -> Credentials:
    credentials = Credentials(host, port, run_id, os.getpid(), socket.gethostname())
    write_json(Path(run_dir) / CREDENTIALS, asdict(credentials))
    return credentials


def run_secret(run_dir: Path) -> bytes:
    """The run's secret, created on first use (32 random bytes, hex, readable by the owner only)."""
    path = Path(run_dir) / SECRET
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_secret(path)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_hex(32) + "\n")
    return read_secret(path)


def read_secret(path: str | os.PathLike[str]) -> bytes:
    """A secret file's key; refused when missing, empty, or readable by other users (as ssh does)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        key = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the run's secret {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"secret file {path} is readable by other users (chmod 600 {path})")
    if not key:
        raise ConfigError(f"secret file {path} is empty")
    return key.encode()


def read_credentials(run_dir: Path) -> Credentials | None:
    """The credentials file, or None when absent or unreadable (a master may be rewriting it)."""
    try:
        return Credentials(**json.loads((Path(run_dir) / CREDENTIALS).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def remove_credentials(run_dir: Path, run_id: str) -> None:
    """Removes the credentials only if they are this run's (a newer master may have replaced them)."""
    current = read_credentials(run_dir)
    if current is not None and current.run_id == run_id:
        (Path(run_dir) / CREDENTIALS).unlink(missing_ok=True)


def _json_lines(path: Path, shape: Callable[[Any], bool], damaged: list[str]) -> Iterable[Any]:
    """The lines of a JSON-lines log that parse and have the expected ``shape``; every other non-empty
    line (cut short by a killed writer, edited by hand) is reported in ``damaged``, never dropped
    silently."""
    if not path.is_file():
        return
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            damaged.append(f"{path}: line {number}: not JSON ({exc.msg})")
            continue
        if not shape(value):
            damaged.append(f"{path}: line {number}: not a {path.name} entry")
            continue
        yield value


def _config_line(value: Any) -> bool:
    return isinstance(value, list) and len(value) in (2, 3) and isinstance(value[0], list)


def _result_line(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 5 and isinstance(value[0], list)
            and isinstance(value[1], (int, float)) and not isinstance(value[1], bool))


def read_logs(directory: Path) -> Logs:
    """configs.json and results.json of one directory, as written by hpbandster's logger."""
    directory = Path(directory)
    logs = Logs({}, {})
    for line in _json_lines(directory / CONFIGS, _config_line, logs.damaged):
        info = line[2] if len(line) == 3 and isinstance(line[2], dict) else {}
        logs.configs.setdefault(tuple(line[0]), LoggedConfig(line[1], info))
    for entry in _results(directory, logs.damaged):
        logs.results[(entry.config_id, entry.budget)] = entry
    return logs


def _results(directory: Path, damaged: list[str]) -> Iterable[LoggedResult]:
    """Every readable line of a directory's results.json, in order (a re-run pair appears twice)."""
    for config_id, budget, timestamps, result, exception in _json_lines(Path(directory) / RESULTS, _result_line, damaged):
        yield LoggedResult(tuple(config_id), float(budget), timestamps, result, exception)


def attempt_dirs(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / ATTEMPTS
    return sorted((p for p in root.glob("*") if p.name.isdigit()), key=lambda p: int(p.name)) if root.is_dir() else []


def read_history(run_dir: Path) -> Logs:
    """Everything any attempt logged: backups of earlier attempts, then the current files."""
    history = Logs({}, {})
    for directory in [*attempt_dirs(run_dir), Path(run_dir)]:
        history.merge(read_logs(directory))
    return history


def archive_logs(run_dir: Path) -> Path:
    """Copies the current logs to ``attempts/N`` before a resume rewrites them."""
    existing = attempt_dirs(run_dir)
    target = Path(run_dir) / ATTEMPTS / str(int(existing[-1].name) + 1 if existing else 1)
    target.mkdir(parents=True)
    for name in (CONFIGS, RESULTS):
        if (Path(run_dir) / name).is_file():
            shutil.copy2(Path(run_dir) / name, target / name)
    return target


@dataclass(frozen=True)
class Ledger:
    """What a run's attempts did, for a run that outlives one sitting: the wall time its attempts
    ran and the two counts that a resume must keep at zero."""

    attempts: int
    wall_s: float
    lost: int  # finished in an earlier attempt's logs, missing from the current results.json
    duplicated: int  # (configuration, budget) pairs finished more than once in the current results.json


def ledger(run_dir: Path, manifest: dict[str, Any]) -> Ledger:
    """An attempt that was killed has no ``finished`` time: it ran until its last finished result."""
    run_dir = Path(run_dir)
    history = read_history(run_dir)
    finished_at = sorted(e.timestamps.get("finished", 0.0) for e in history.results.values() if e.finished)
    starts = [a["started"] for a in manifest.get("attempts", [])]
    wall = 0.0
    for i, attempt in enumerate(manifest.get("attempts", [])):
        following = starts[i + 1] if i + 1 < len(starts) else float("inf")
        end = attempt.get("finished") or max([t for t in finished_at if starts[i] <= t < following], default=starts[i])
        wall += end - starts[i]
    finished = [(e.config_id, e.budget) for e in _results(run_dir, []) if e.finished]
    kept = set(finished)
    lost = sum(1 for key, e in history.results.items() if e.finished and key not in kept)
    return Ledger(len(starts), wall, lost, len(finished) - len(kept))


class RunLogger(json_result_logger):
    """hpbandster's logger, writing plain JSON, skipping replayed jobs (already in the files)."""

    def new_config(self, config_id, config, config_info) -> None:
        super().new_config(tuple(config_id), plain(config), json_safe(config_info))

    def __call__(self, job) -> None:
        if not getattr(job, "replayed", False):
            super().__call__(job)

    def preload(self, logs: Logs) -> None:
        """Writes earlier attempts' configs and finished results into fresh files (resume)."""
        for config_id, logged in sorted(logs.configs.items()):
            self.new_config(config_id, logged.config, logged.info)
        with open(self.results_fn, "a") as fh:
            for entry in sorted(logs.results.values(), key=lambda e: e.timestamps.get("finished", 0.0)):
                line = [list(entry.config_id), entry.budget, entry.timestamps, entry.result, entry.exception]
                fh.write(json.dumps(json_safe(line)) + "\n")
