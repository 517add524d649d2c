"""Trilevel NAS's three levels (Wu et al. 2021) on the paper's chain of mixed layers.

- cell level: each of the 10 layers mixes the operation set, as in the sequential space;
- kernel level: each layer chooses the hidden width of its operations' nets, a fraction of
  ``--width`` (``WIDTH_FRACTIONS``); relaxed by Gumbel sampling, as in the public code of the
  method. A narrower net is the net with its hidden channels beyond the fraction scaled to zero (after
  BatchNorm and ReLU, so exactly the narrower net), and the mixture over widths a per-channel
  scale, sum_k v_k [c < f_k C];
- network level: the network's exit, after which layer its output is taken; the output is
  ``sum_l e_l x_(l+1)`` over the layers' outputs, relaxed by sparsestmax (the trial's sparsestmax
  settings), so the searched network may end early and be shallower.

Readings: the network level of the paper is a tree of cells and upsampling stages; a chain has one
path, on which layer l is used exactly when the exit is at l or later, so the kept layers are
ordered by construction and the paper's sorting term has nothing to order (not built). One width per
layer for all its nets, where the paper has one per operation.
"""

from __future__ import annotations

from typing import Sequence

import torch

from bohb_das.operations import Context, per_trial
from bohb_das.rng import TrialStreams
from bohb_das.search_spaces import SPACES, Choice, SearchSpace, edge_ops
from bohb_das.search_spaces.sequential import SEQUENTIAL_LAYERS

#: The hidden widths a layer's nets may keep, as fractions of ``--width`` (ascending).
WIDTH_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
LAYERS = tuple(f"layer{j}" for j in range(SEQUENTIAL_LAYERS))


def width_name(fraction: float) -> str:
    return f"width{round(100 * fraction)}%"


@SPACES.register("trilevel")
class TrilevelSpace(SearchSpace):
    """The three levels (module docstring): operations per layer, a width per layer, one exit."""

    name = "trilevel"
    edges = LAYERS
    extra_choices = (
        Choice("width", tuple(f"{layer}.width" for layer in LAYERS), tuple(width_name(f) for f in WIDTH_FRACTIONS), "gumbel"),
        Choice("exit", ("exit",), tuple(f"after-{layer}" for layer in LAYERS), "sparsestmax"),
    )

    def __init__(self, candidates: Sequence[str], trials: int, width: int, init: TrialStreams, skip_init: float = 1.0,
                 skip_learnable: bool = True, dims: int = 1) -> None:
        super().__init__(candidates, trials, width, init, skip_init, skip_learnable, dims)
        self.width = width

    def width_masks(self, like: torch.Tensor) -> torch.Tensor:
        """(fractions, width): ones on the hidden channels each width keeps (at least one)."""
        channels = torch.arange(self.width, device=like.device)
        return torch.stack([channels < max(1, round(f * self.width)) for f in WIDTH_FRACTIONS]).to(like.dtype)

    @classmethod
    def describe(cls, ops: Sequence[str | tuple[str, ...] | None]) -> str:
        """The chain up to its exit, each layer's operations at its width: ``net@width50% > ...``."""
        layers, widths, (exits,) = ops[:len(LAYERS)], ops[len(LAYERS):2 * len(LAYERS)], ops[2 * len(LAYERS):]
        last = max((int(e.split("layer")[1]) for e in edge_ops(exits)), default=len(LAYERS) - 1)
        chain = [f"{'+'.join(edge_ops(op)) or 'None'}@{'+'.join(edge_ops(w))}" for op, w in zip(layers[:last + 1], widths)]
        return " > ".join(chain) + f" | exit {'+'.join(edge_ops(exits))}"

    def body(self, u0: torch.Tensor, weights: torch.Tensor, ctx: Context) -> torch.Tensor:
        """Every layer runs, also after a fixed network's exit (with weight 0 there): a noise operation
        draws from its trial's stream in every layer, so a trial's draws cannot depend on the exits of
        the others in its batch."""
        layers = len(LAYERS)
        ops, fractions = len(self.candidates), len(WIDTH_FRACTIONS)
        exits = weights[:, 2 * layers, :layers]
        masks = self.width_masks(weights)
        x, out = u0, torch.zeros_like(u0)
        for j, layer in enumerate(self.mixed):
            hidden = weights[:, layers + j, :fractions] @ masks  # (T, width)
            x = layer(x, weights[:, j, :ops], ctx, hidden)
            out = out + per_trial(exits[:, j], x) * x
        return out
