"""A table's cells on several processes: the same trials as in one process, every batch cached."""

from dataclasses import replace

import pytest

from bohb_das.cache import TrialCache
from bohb_das.errors import ConfigError
from bohb_das.hparams import load_preset
from bohb_das.experiment import Experiment
from bohb_das.tables import Grid, collect


def tiny_grid() -> Grid:
    return Grid(hparams=[("H1", load_preset("H1"))], formations=["blur", "downsampling"], ops=["good"],
                spaces=["sequential"], methods=["das", "random_search"], trials=2, epochs=1, definition=Experiment(width=4), k=2)


def test_cells_on_two_processes_give_the_trials_of_one(tmp_path):
    grid = tiny_grid()
    epochs: list[str] = []
    spread = collect(grid, TrialCache(tmp_path / "two"), processes=2,
                     progress=lambda phase, done, total: epochs.append(phase))
    alone = collect(grid, TrialCache(tmp_path / "one"))
    strip = lambda records: [{k: v for k, v in r.to_json().items() if k != "seconds"} for r in records]
    assert len(spread) == 8 and strip(spread) == strip(alone)
    assert 0 < len(epochs) <= grid.epochs_to_run() and {"search", "retrain"} <= set(epochs)
    # everything is in the cache: a second collect runs nothing
    again = collect(grid, TrialCache(tmp_path / "two"), progress=lambda *_: pytest.fail("ran a trial again"))
    assert [r.to_json() for r in again] == [r.to_json() for r in spread]


def test_processes_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="processes must be a positive integer, got 0"):
        collect(tiny_grid(), TrialCache(tmp_path), processes=0)


def test_the_progress_total_counts_every_batch_of_a_cell(tmp_path):
    grid = replace(tiny_grid(), trials=3, methods=["das"])
    epochs: list[str] = []
    collect(grid, TrialCache(tmp_path), batch=2, progress=lambda phase, done, total: epochs.append(phase))
    assert len(epochs) == grid.epochs_to_run(batch=2) == 2 * grid.epochs_to_run()  # 3 trials: batches of 2 and 1
