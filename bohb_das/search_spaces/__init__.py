"""Search spaces (supernets over mixed operations) and their discrete architectures (genotypes).

A space is a list of edges, each a ``MixedOp`` over the same candidates; the network takes the
per-edge mixing weights (T, edges, candidates) as an argument. The supernet passes a relaxation of
alpha (softmax by default); a discrete architecture passes one-hot weights, so retraining a genotype
uses exactly the same code, batched over trials whose genotypes differ. The built-in spaces,
``sequential`` and ``cell``, are modules of this package registered in ``SPACES`` as a user's plugin
module registers its own (a ``SearchSpace`` subclass whose ``name`` is the name it registers under).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from bohb_das.errors import ConfigError
from bohb_das.operations import Context, per_trial
from bohb_das.operations.mixed import MixedOp
from bohb_das.registry import Registry
from bohb_das.rng import TrialStreams

#: Search spaces by name (``--space``; a space's ``name`` is the name it registers under).
SPACES: "Registry[type[SearchSpace]]" = Registry("search space")


@dataclass(frozen=True)
class Genotype:
    """One op name per edge of ``space`` in edge order; ``None`` marks a dropped (zero) edge."""

    space: str
    ops: tuple[str | None, ...]

    def to_json(self) -> dict[str, Any]:
        return {"space": self.space, "ops": list(self.ops)}

    @classmethod
    def from_json(cls, value: Any) -> "Genotype":
        if not isinstance(value, dict) or set(value) != {"space", "ops"} or not isinstance(value["ops"], list):
            raise ConfigError(f"a genotype is {{'space': ..., 'ops': [...]}}, got {value!r}")
        if value["space"] not in SPACES:
            raise ConfigError(f"unknown search space {value['space']!r} in genotype")
        space = SPACES[value["space"]]
        if len(value["ops"]) != len(space.edges):
            raise ConfigError(f"a {value['space']} genotype has {len(space.edges)} ops, got {len(value['ops'])}")
        return cls(value["space"], tuple(value["ops"]))

    def __str__(self) -> str:
        return SPACES[self.space].describe(self.ops)


class SearchSpace(nn.Module):
    """Base: ``forward(u0, weights, ctx)`` maps the back-projection to the reconstruction.

    Every space ends in a residual path from the back-projection, ``+ s * u0`` with a scale s per
    trial starting at ``skip_init``, learnable or fixed (the profile's reading of the paper's
    "residual branch"): from 1, a nets-only network only has to learn the correction (without it, 10
    stacked plain CNNs stay below the back-projection on blur for 20+ epochs); learnable, a
    learnable-GD-only network can turn the path down; fixed at 1, it is DnCNN's identity skip.
    """

    name: str
    edges: tuple[str, ...]
    uses_zero = False

    def __init__(self, candidates: Sequence[str], trials: int, width: int, init: TrialStreams,
                 skip_init: float = 1.0, skip_learnable: bool = True, dims: int = 1) -> None:
        super().__init__()
        self.candidates = tuple(candidates) + (("zero",) if self.uses_zero else ())
        self.mixed = nn.ModuleList(MixedOp(self.candidates, trials, width, init, dims) for _ in self.edges)
        skip = torch.full((trials,), skip_init, dtype=torch.float64)
        if skip_learnable:
            self.skip = nn.Parameter(skip)
        else:
            self.register_buffer("skip", skip)

    def forward(self, u0: torch.Tensor, weights: torch.Tensor, ctx: Context) -> torch.Tensor:
        return self.body(u0, weights, ctx) + per_trial(self.skip, u0) * u0

    def body(self, u0: torch.Tensor, weights: torch.Tensor, ctx: Context) -> torch.Tensor:
        raise NotImplementedError

    @classmethod
    def describe(cls, ops: Sequence[str | None]) -> str:
        """One line for a genotype of this space: each kept edge as ``label:op``."""
        kept = [f"{label}:{op}" for label, op in zip(cls.edges, ops) if op is not None]
        return " ".join(kept) if kept else "(empty)"

    def discretize(self, weights: torch.Tensor) -> list[Genotype]:
        """The argmax op of every edge, per trial; a ``zero`` edge is dropped."""
        best = weights.argmax(-1).tolist()
        return [
            Genotype(self.name, tuple(None if self.candidates[k] == "zero" else self.candidates[k] for k in row))
            for row in best
        ]

    def replicate(self, copies: int) -> "SearchSpace":
        """A new network of ``T * copies`` trials whose trial ``t * copies + c`` is a copy of trial t
        (parameters and BatchNorm statistics); training it leaves this one untouched."""
        clone = copy.deepcopy(self)
        with torch.no_grad():
            for tensor in [*clone.parameters(), *clone.buffers()]:
                tensor.data = tensor.data.repeat_interleave(copies, 0)
        return clone

    def fix(self, genotypes: Sequence[Genotype]) -> torch.Tensor:
        """Makes this network the given architectures, one per trial: every edge computes only the
        operation its trial chose (``MixedOp.forward``). Returns the one-hot mixing weights to pass."""
        weights = self.one_hot(genotypes)
        chosen = weights.argmax(-1)
        for e, mixed in enumerate(self.mixed):
            mixed.chosen = chosen[:, e]
        return weights

    def one_hot(self, genotypes: Sequence[Genotype]) -> torch.Tensor:
        """(T, edges, candidates) weights that make this supernet compute the given architectures."""
        index = {name: k for k, name in enumerate(self.candidates)}
        rows = []
        for genotype in genotypes:
            if genotype.space != self.name:
                raise ConfigError(f"a {genotype.space} genotype cannot run in the {self.name} space")
            try:
                rows.append([index["zero" if op is None else op] for op in genotype.ops])
            except KeyError as exc:
                raise ConfigError(f"operation {exc.args[0]!r} is not among {self.candidates}") from None
        choice = torch.tensor(rows, device=self.skip.device)
        return nn.functional.one_hot(choice, len(self.candidates)).to(self.skip.dtype)

