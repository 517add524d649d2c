"""Every test starts from the same global torch seed (the library itself uses explicit streams)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
