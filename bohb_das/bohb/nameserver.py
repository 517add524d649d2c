"""Finding a live master: the study is published in the Pyro nameserver, next to hpbandster's names.

hpbandster's own credentials pickle outlives a killed master and sends new workers to a dead (or a
reused, foreign) port. Here a master publishes ``bohb_das.run_<run_id>.task`` with the study as
metadata; a worker trusts an address only once that entry answers with the run_id it expects, and
otherwise waits for a fresh credentials file. With only ``HOST:PORT``, the single published run is used.

Every message is signed with the run's secret (``compat.use_secret``): a worker finds the key in the
run directory, or is given it (``secret``, from ``--secret-file``); the nameserver refuses any other.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import Pyro4
import Pyro4.errors

from bohb_das.bohb import compat
from bohb_das.bohb.rundir import SECRET, read_credentials, read_secret
from bohb_das.errors import ConfigError

TASK_PREFIX = "bohb_das.run_"
TASK_SUFFIX = ".task"


@dataclass(frozen=True)
class Location:
    host: str
    port: int
    run_id: str
    task: dict[str, Any]  # the manifest's study plus the master's device


def task_name(run_id: str) -> str:
    return f"{TASK_PREFIX}{run_id}{TASK_SUFFIX}"


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"nameserver address must be HOST:PORT, got {address!r}")
    return host, int(port)


def ns_proxy(host: str, port: int, timeout: float = 5.0) -> Pyro4.Proxy:
    """A nameserver proxy with a bounded timeout (no broadcast lookup, no netifaces)."""
    proxy = Pyro4.Proxy(f"PYRO:{Pyro4.constants.NAMESERVER_NAME}@{host}:{port}")
    proxy._pyroTimeout = timeout
    return proxy


def publish_task(host: str, port: int, run_id: str, task: dict[str, Any]) -> None:
    with ns_proxy(host, port) as ns:
        ns.register(task_name(run_id), f"PYRO:{task_name(run_id)}@{host}:{port}", metadata={json.dumps(task)})


def find_tasks(host: str, port: int, timeout: float = 5.0) -> dict[str, dict[str, Any]]:
    """run_id -> task of every run published at this nameserver; {} when it does not answer."""
    try:
        with ns_proxy(host, port, timeout) as ns:
            entries = ns.list(prefix=TASK_PREFIX, return_metadata=True)
    except (Pyro4.errors.PyroError, OSError) as exc:
        if "hmac" in str(exc):  # Pyro's words for a missing ("not symmetric") or wrong ("mismatch") key
            raise ConfigError(f"nameserver {host}:{port} refused this process: it needs the run's secret "
                              f"(the run directory, or --secret-file RUN/{SECRET})") from None
        return {}
    tasks = {}
    for name, (_, meta) in entries.items():
        if name.endswith(TASK_SUFFIX) and meta:
            tasks[name[len(TASK_PREFIX) : -len(TASK_SUFFIX)]] = json.loads(next(iter(meta)))
    return tasks


def locate(
    run_dir: Path | None = None,
    nameserver: str | None = None,
    wait_s: float = 300.0,
    logger: logging.Logger | None = None,
    secret: bytes | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Location:
    """Waits (up to ``wait_s``) for a live master reachable through a run directory or HOST:PORT;
    ``secret`` is the run's key (default: the run directory's ``secret`` file). ``on_wait`` is told
    once, in a line, where it waits and until when, if the first look finds no master."""
    if (run_dir is None) == (nameserver is None):
        raise ConfigError("give exactly one of a run directory or a nameserver HOST:PORT")
    compat.use_secret(secret)
    log = logger or logging.getLogger(__name__)
    deadline = time.monotonic() + wait_s
    where = f"run directory {run_dir}" if run_dir is not None else f"nameserver {nameserver}"
    reported: str | None = None
    waiting = False
    while True:
        if run_dir is not None:
            credentials = read_credentials(Path(run_dir))
            key_file = Path(run_dir) / SECRET  # written before the credentials, kept by a resumed master
            if credentials is not None:
                keyed = secret is not None or key_file.exists()
                if secret is None and keyed:
                    compat.use_secret(read_secret(key_file))
                tasks = find_tasks(credentials.host, credentials.port) if keyed else {}
                if credentials.run_id in tasks:
                    return Location(credentials.host, credentials.port, credentials.run_id, tasks[credentials.run_id])
                if reported != credentials.run_id:
                    log.warning("credentials in %s are stale (run %s does not answer); waiting for a live master",
                                run_dir, credentials.run_id)
                    reported = credentials.run_id
        else:
            host, port = parse_address(nameserver)
            tasks = find_tasks(host, port)
            if len(tasks) > 1:
                raise ConfigError(f"several runs use nameserver {nameserver}; pass the run directory instead")
            if tasks:
                (run_id, task), = tasks.items()
                return Location(host, port, run_id, task)
        if time.monotonic() > deadline:
            raise ConfigError(f"no live BOHB master found through {where} within {wait_s:.0f} s")
        if on_wait is not None and not waiting:
            until = datetime.datetime.now() + datetime.timedelta(seconds=deadline - time.monotonic())
            on_wait(f"waiting for a live BOHB master through {where} until {until:%H:%M:%S} (--wait {wait_s:g} s)")
            waiting = True
        time.sleep(0.5)
