"""The paper's non-sequential (cell) space (section 4.2): two DARTS-like cells."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from bohb_das.operations import Context, per_trial
from bohb_das.rng import TrialStreams
from bohb_das.search_spaces import SPACES, SearchSpace

CELLS = 2
CELL_STATES = 5


def _cell_edges() -> tuple[str, ...]:
    return tuple(
        f"c{c}:{i}->{j}" for c in range(CELLS) for j in range(1, CELL_STATES + 1) for i in range(j)
    )


@SPACES.register("cell")
class CellSpace(SearchSpace):
    """Paper 4.2: two cells; ``s_j = sum_{i<j} mixed_ij(s_i)`` over 5 states (15 edges per cell, with
    ``zero`` among the candidates), the last two states merged by a 1x1 convolution (2 -> 1 channels)."""

    name = "cell"
    edges = _cell_edges()
    uses_zero = True

    @classmethod
    def groups(cls) -> tuple[tuple[int, ...], ...]:
        """The incoming edges of each state of each cell (``_cell_edges``' order)."""
        groups, edge = [], 0
        for _ in range(CELLS):
            for j in range(1, CELL_STATES + 1):
                groups.append(tuple(range(edge, edge + j)))
                edge += j
        return tuple(groups)

    def __init__(self, candidates: Sequence[str], trials: int, width: int, init: TrialStreams,
                 skip_init: float = 1.0, skip_learnable: bool = True, dims: int = 1) -> None:
        super().__init__(candidates, trials, width, init, skip_init, skip_learnable, dims)
        dtype = torch.float64  # drawn in float64 and cast by .to(): the same numbers on every dtype
        self.merge_w = nn.Parameter(init.uniform(CELLS, 2, bound=1 / math.sqrt(2), dtype=dtype))
        self.merge_b = nn.Parameter(init.uniform(CELLS, bound=1 / math.sqrt(2), dtype=dtype))

    def body(self, u0: torch.Tensor, weights: torch.Tensor, ctx: Context) -> torch.Tensor:
        s = u0
        edge = 0
        for c in range(CELLS):
            states = [s]
            for j in range(1, CELL_STATES + 1):
                total = torch.zeros_like(s)
                for i in range(j):
                    total = total + self.mixed[edge](states[i], weights[:, edge], ctx)
                    edge += 1
                states.append(total)
            w, b = self.merge_w[:, c], self.merge_b[:, c]
            s = per_trial(w[:, 0], s) * states[-2] + per_trial(w[:, 1], s) * states[-1] + per_trial(b, s)
        return s
