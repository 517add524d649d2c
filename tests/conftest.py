"""Tests run torch single-threaded and from the same global seed.

One thread: on a 2-core machine shared with other work, OpenMP's spinning threads were measured to
slow small tensor operations by 10-30x whenever another process took a core; single-threaded tests
stay fast and deterministic there. (The library itself uses explicit seeded streams.)
"""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _user_dir(tmp_path_factory, monkeypatch):
    """Exported presets go to a fresh user directory, never the tester's own."""
    monkeypatch.setenv("BOHB_DAS_HOME", str(tmp_path_factory.mktemp("user")))
