"""The paper's sequential space (section 4.1): a chain of mixed layers."""

from __future__ import annotations

from typing import Sequence

import torch

from bohb_das.operations import Context
from bohb_das.search_spaces import SPACES, SearchSpace, edge_ops

SEQUENTIAL_LAYERS = 10


@SPACES.register("sequential")
class SequentialSpace(SearchSpace):
    """Paper 4.1: ``x_{j+1} = sum_t w_jt o_t(x_j)`` over 10 layers from ``x_0 = u0``."""

    name = "sequential"
    edges = tuple(f"layer{j}" for j in range(SEQUENTIAL_LAYERS))

    @classmethod
    def describe(cls, ops: Sequence[str | tuple[str, ...] | None]) -> str:
        """A chain: the layers' operations in order (``a+b`` for a layer that keeps a mixed path)."""
        return " > ".join("+".join(edge_ops(op)) or "None" for op in ops)

    def body(self, u0: torch.Tensor, weights: torch.Tensor, ctx: Context) -> torch.Tensor:
        x = u0
        for j, layer in enumerate(self.mixed):
            x = layer(x, weights[:, j], ctx)
        return x
