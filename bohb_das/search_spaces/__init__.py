"""Search spaces (supernets over mixed operations) and their discrete architectures (genotypes).

A space is a list of edges, each a ``MixedOp`` over the same candidates (or, in a space with its
``own_candidates``, such as CLEARER's module types, whatever the space mixes on that edge); the
network takes the per-edge mixing weights (T, edges, candidates) as an argument. The supernet passes a relaxation of
alpha (softmax by default); a discrete architecture passes one-hot weights (or, for an edge that
keeps a mixed path of several operations, their mean), so retraining a genotype uses exactly the
same code, batched over trials whose genotypes differ. The built-in spaces,
``sequential``, ``cell`` and ``multiscale``, are modules of this package registered in ``SPACES`` as a user's plugin
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


def edge_ops(edge: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """The operations an edge keeps (none for a dropped edge)."""
    return () if edge is None else (edge,) if isinstance(edge, str) else edge


def as_edge(ops: Sequence[str]) -> str | tuple[str, ...] | None:
    """The edge that keeps ``ops``: None without any, the name alone for one, else the tuple."""
    return None if not ops else ops[0] if len(ops) == 1 else tuple(ops)


@dataclass(frozen=True)
class Genotype:
    """What each edge of ``space`` keeps, in edge order: one operation's name (the argmax
    architecture), a tuple of several in the candidates' order (a mixed path, their mean: the
    sparse supernet's support), or None for a dropped edge."""

    space: str
    ops: tuple[str | tuple[str, ...] | None, ...]

    def to_json(self) -> dict[str, Any]:
        """A mixed path is a list of names, so a single-operation genotype reads as it always has."""
        return {"space": self.space, "ops": [list(op) if isinstance(op, tuple) else op for op in self.ops]}

    @classmethod
    def from_json(cls, value: Any) -> "Genotype":
        if not isinstance(value, dict) or set(value) != {"space", "ops"} or not isinstance(value["ops"], list):
            raise ConfigError(f"a genotype is {{'space': ..., 'ops': [...]}}, got {value!r}")
        if value["space"] not in SPACES:
            raise ConfigError(f"unknown search space {value['space']!r} in genotype")
        space = SPACES[value["space"]]
        if len(value["ops"]) != len(space.edges):
            raise ConfigError(f"a {value['space']} genotype has {len(space.edges)} ops, got {len(value['ops'])}")
        ops = []
        for op in value["ops"]:
            if isinstance(op, list) and len(op) > 1 and all(isinstance(o, str) for o in op) and len(set(op)) == len(op):
                ops.append(tuple(op))
            elif op is None or isinstance(op, str):
                ops.append(op)
            else:
                raise ConfigError(f"a genotype's edge is an operation, a list of two or more distinct ones, or null; got {op!r}")
        return cls(value["space"], tuple(ops))

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
    #: What every edge chooses among where the space does not choose operations (CLEARER's module
    #: types): the operation set (``--ops``) does not apply to such a space.
    own_candidates: tuple[str, ...] | None = None

    @classmethod
    def options(cls, op_names: Sequence[str]) -> tuple[str, ...]:
        """The candidates of every edge: the operation set (with ``zero`` where the space drops
        edges), or the space's own."""
        if cls.own_candidates is not None:
            return cls.own_candidates
        return tuple(op_names) + (("zero",) if cls.uses_zero else ())

    @classmethod
    def groups(cls) -> tuple[tuple[int, ...], ...]:
        """The edges grouped by the node they enter (the sparse supernet's group lasso drops whole
        groups): by default every edge enters a node of its own."""
        return tuple((e,) for e in range(len(cls.edges)))

    def __init__(self, candidates: Sequence[str], trials: int, width: int, init: TrialStreams,
                 skip_init: float = 1.0, skip_learnable: bool = True, dims: int = 1) -> None:
        super().__init__()
        self.candidates = self.options(candidates)
        operations = self.own_candidates is None
        self.mixed = nn.ModuleList(MixedOp(self.candidates, trials, width, init, dims) for _ in self.edges if operations)
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
    def describe(cls, ops: Sequence[str | tuple[str, ...] | None]) -> str:
        """One line for a genotype of this space: each kept edge as ``label:op`` (``label:a+b`` for
        a mixed path)."""
        kept = [f"{label}:{'+'.join(edge_ops(op))}" for label, op in zip(cls.edges, ops) if op is not None]
        return " ".join(kept) if kept else "(empty)"

    def discretize(self, weights: torch.Tensor) -> list[Genotype]:
        """The argmax op of every edge, per trial; a ``zero`` edge is dropped."""
        best = weights.argmax(-1).tolist()
        return [
            Genotype(self.name, tuple(None if self.candidates[k] == "zero" else self.candidates[k] for k in row))
            for row in best
        ]

    def support(self, weights: torch.Tensor) -> list[Genotype]:
        """Every op of non-zero weight on each edge, per trial (a mixed path where several are);
        ``zero`` is never kept, and an edge with none is dropped."""
        kept = (weights != 0).tolist()
        return [
            Genotype(self.name, tuple(
                as_edge([c for c, keep in zip(self.candidates, edge) if keep and c != "zero"]) for edge in row
            ))
            for row in kept
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
        """Makes this network the given architectures, one per trial: an edge on which every trial
        keeps one operation computes only that one (``MixedOp.forward``); an edge where some trial
        keeps a mixed path, or none, computes all candidates, weighted. Returns the weights to pass."""
        weights = self.one_hot(genotypes)
        for e, mixed in enumerate(self.mixed):
            single = bool(((weights[:, e] != 0).sum(-1) == 1).all())
            mixed.chosen = weights[:, e].argmax(-1) if single else None
        return weights

    def one_hot(self, genotypes: Sequence[Genotype]) -> torch.Tensor:
        """(T, edges, candidates) weights that make this supernet compute the given architectures:
        one-hot on an edge that keeps one operation, ``1 / n`` on each of a mixed path's n (their
        mean: a sum would double the signal at every layer of a chain whose operations carry their
        input, 2^10 through the sequential space); a dropped edge is ``zero`` where the space has
        it, else a row of zeros (the sparse supernet may empty a layer)."""
        index = {name: k for k, name in enumerate(self.candidates)}
        weights = torch.zeros(len(genotypes), len(self.edges), len(self.candidates), dtype=self.skip.dtype)
        for t, genotype in enumerate(genotypes):
            if genotype.space != self.name:
                raise ConfigError(f"a {genotype.space} genotype cannot run in the {self.name} space")
            for e, op in enumerate(genotype.ops):
                kept = edge_ops(op) or (("zero",) if self.uses_zero else ())
                for name in kept:
                    if name not in index:
                        raise ConfigError(f"operation {name!r} is not among {self.candidates}")
                    weights[t, e, index[name]] = 1 / len(kept)
        return weights.to(self.skip.device)

