"""A grid's trials on several processes, one thread each: the cells of a table spread over the cores.

On this project's 2-core machine two one-thread processes each step at the speed of one alone
(measured: 535 ms per search step at T=75, alone and side by side), so a table's cells finish in
about half the time on both cores. A task is one cell with all its methods (random search's
``k="auto"`` needs its cell's DAS and random trials), and it runs its seeds in the batches that one
process would use, so the numbers are the same. Tasks write each batch to the cache as it finishes:
the caller then reads the whole grid from there, and a failed or interrupted run keeps every
finished batch.
"""

from __future__ import annotations

import multiprocessing
import queue
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from bohb_das.cache import TrialCache
from bohb_das.training import Progress

#: ``collect(cell, cache, device, dtype, batch, progress=...)``: what a worker process runs for one
#: cell (``bohb_das.tables.collect``, handed in by the caller: this module stays below the tables).
Collect = Callable[..., Any]

_events: "multiprocessing.Queue[tuple[str, int, int]] | None" = None  # a worker's progress reports


def _start_worker(events: "multiprocessing.Queue[tuple[str, int, int]]") -> None:
    global _events
    torch.set_num_threads(1)
    _events = events


def _run_cell(collect: Collect, cell: Any, cache_root: Path, device: str, dtype: torch.dtype, batch: int) -> None:
    assert _events is not None
    events = _events
    collect(cell, TrialCache(cache_root), device, dtype, batch,
            progress=lambda phase, done, total: events.put((phase, done, total)))


def _relay_progress(events: "multiprocessing.Queue[tuple[str, int, int]]", progress: Progress | None) -> None:
    while True:
        try:
            report = events.get_nowait()
        except queue.Empty:
            return
        if progress is not None:
            progress(*report)


def fill_cache(collect: Collect, cells: Sequence[Any], cache: TrialCache, device: str, dtype: torch.dtype, batch: int,
               progress: Progress | None, processes: int) -> None:
    """Runs what ``cache`` lacks of the grids ``cells`` (``collect`` of each) on ``processes`` processes; ``progress`` hears of
    every epoch as in one process. On a failure the cells not yet started are dropped, the running ones
    finish into the cache, and the first failure is raised."""
    if torch.device(device).type == "cpu":
        from bohb_das.kernels import load

        load()  # built once, here, rather than by every worker at once
    context = multiprocessing.get_context("spawn")  # no forked copies of this process's threads
    events: "multiprocessing.Queue[tuple[str, int, int]]" = context.Queue()
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_start_worker, initargs=(events,)) as pool:
        pending: set[Future[None]] = {pool.submit(_run_cell, collect, cell, cache.root, device, dtype, batch) for cell in cells}
        failure: BaseException | None = None
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            _relay_progress(events, progress)
            failure = failure or next((f.exception() for f in done if f.exception() is not None), None)
            if failure is not None:
                for future in pending:
                    future.cancel()
                pending = {future for future in pending if not future.cancelled()}
        _relay_progress(events, progress)
    if isinstance(failure, BrokenProcessPool):
        raise RuntimeError("a worker process of the table died (killed, or out of memory); "
                           "the finished batches are in the cache") from failure
    if failure is not None:
        raise failure
