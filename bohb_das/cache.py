"""An on-disk cache of finished trials, keyed by their full specification.

One JSON-lines file per (TrialSpec, dtype), named by a hash of both, holds one record per seed; a
batch's records are appended (and flushed) as soon as the batch finishes, so an interrupted table
run keeps every finished batch and a re-run trains only the seeds still missing. The key holds the
spec with its resolved profile settings, the resolved operation tuple (not just the set's name) and
the computation version (``bohb_das.trial.COMPUTATION_VERSION``), so a change of code, profile or
operation set never returns stale trials: they live under another key and are recomputed. The
device is not part of the key: a trial on another device is the same experiment (numbers agree to
rounding).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from bohb_das.operations import OP_SETS
from bohb_das.results import dumps, parse_record
from bohb_das.training import Progress
from bohb_das.trial import COMPUTATION_VERSION, TrialSpec, run_trials


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bohb-das"


def spec_key(spec: TrialSpec, dtype: torch.dtype) -> str:
    """A hash of everything that defines a trial except its seed."""
    key = {"spec": spec.to_dict(), "dtype": str(dtype), "ops": OP_SETS[spec.ops], "version": COMPUTATION_VERSION}
    text = json.dumps(key, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class TrialCache:
    """``run`` returns the records of ``seeds``, from disk where finished, else by running them."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, spec: TrialSpec, dtype: torch.dtype) -> Path:
        return self.root / f"{spec.method}-{spec_key(spec, dtype)}.jsonl"

    def load(self, spec: TrialSpec, dtype: torch.dtype) -> dict[int, dict[str, Any]]:
        """Finished records by seed; a torn last line (a write cut short) is ignored."""
        path = self.path(spec, dtype)
        if not path.is_file():
            return {}
        records = {}
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = parse_record(line, f"{path}:{number}")
            except ValueError:
                if number == len(lines):
                    continue
                raise
            records[int(record["seed"])] = record
        return records

    def store(self, spec: TrialSpec, dtype: torch.dtype, records: Sequence[dict[str, Any]]) -> None:
        path = self.path(spec, dtype)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write("".join(dumps(record) + "\n" for record in records))
            f.flush()
            os.fsync(f.fileno())

    def run(
        self,
        spec: TrialSpec,
        seeds: Sequence[int],
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
        batch: int = 0,
        progress: Progress | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Records for ``seeds`` in order; missing seeds run in batches of ``batch`` (0 = all at
        once), each batch stored as it finishes; ``on_batch(n)`` is told of each (n trials run)."""
        cached = self.load(spec, dtype)
        missing = [s for s in seeds if s not in cached]
        size = batch or len(missing) or 1
        for start in range(0, len(missing), size):
            results = [r.to_dict() for r in run_trials(spec, missing[start : start + size], device, progress, dtype)]
            records = [json.loads(dumps(r)) for r in results]  # exactly what a later load returns
            self.store(spec, dtype, records)
            cached.update((r["seed"], r) for r in records)
            if on_batch is not None:
                on_batch(len(records))
        return [cached[s] for s in seeds]
