"""Search spaces (supernets over mixed operations) and their discrete architectures (genotypes).

A space is a list of edges, each a ``MixedOp`` over the same candidates (or, in a space with its
``own_candidates``, such as CLEARER's module types, whatever the space mixes on that edge); a space
may add other decisions (``extra_choices``: a width per layer, the network's exit), each a
``Choice`` of rows over options of its own, relaxed on its own. The network takes the mixing weights
(T, rows, options) as an argument: the edges' rows first, then every extra choice's, each row's
weights in its first columns (as many as its choice has options; zeros beyond). The supernet passes a relaxation of
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
import torch.nn.functional as F
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
class Choice:
    """Rows of an architecture (``labels``, one each) that choose among the same ``options``: the
    operations of a space's edges, or another decision; ``relaxation`` fixes the relaxation of its
    rows (None: the trial's)."""

    name: str
    labels: tuple[str, ...]
    options: tuple[str, ...]
    relaxation: str | None = None


@dataclass(frozen=True)
class Genotype:
    """What each row of ``space`` keeps, in row order (``SearchSpace.labels``: the edges, then any
    other decisions): one option's name (the argmax architecture), a tuple of several in the
    options' order (a mixed path, their mean: the sparse supernet's support), or None for a dropped
    edge."""

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
        rows = len(SPACES[value["space"]].labels())
        if len(value["ops"]) != rows:
            raise ConfigError(f"a {value['space']} genotype has {rows} ops, got {len(value['ops'])}")
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
    #: The decisions beside the edges' operations, in row order after the edges.
    extra_choices: tuple[Choice, ...] = ()

    @classmethod
    def options(cls, op_names: Sequence[str]) -> tuple[str, ...]:
        """The candidates of every edge: the operation set (with ``zero`` where the space drops
        edges), or the space's own."""
        if cls.own_candidates is not None:
            return cls.own_candidates
        return tuple(op_names) + (("zero",) if cls.uses_zero else ())

    @classmethod
    def choices_for(cls, op_names: Sequence[str]) -> tuple[Choice, ...]:
        """Every choice of the architecture: the edges' operations, then the extra ones."""
        return (Choice("operations", cls.edges, cls.options(op_names)), *cls.extra_choices)

    @classmethod
    def labels(cls) -> tuple[str, ...]:
        """The rows of the architecture: the edges, then every extra choice's."""
        return cls.edges + tuple(label for choice in cls.extra_choices for label in choice.labels)

    @classmethod
    def groups(cls) -> tuple[tuple[int, ...], ...]:
        """The rows grouped by the node they enter (the sparse supernet's group lasso drops whole
        groups): by default every row is a group of its own."""
        return tuple((r,) for r in range(len(cls.labels())))

    def __init__(self, candidates: Sequence[str], trials: int, width: int, init: TrialStreams,
                 skip_init: float = 1.0, skip_learnable: bool = True, dims: int = 1) -> None:
        super().__init__()
        self.candidates = self.options(candidates)
        self.choices = self.choices_for(candidates)
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
        """One line for a genotype of this space: each kept row as ``label:op`` (``label:a+b`` for
        a mixed path)."""
        kept = [f"{label}:{'+'.join(edge_ops(op))}" for label, op in zip(cls.labels(), ops) if op is not None]
        return " ".join(kept) if kept else "(empty)"

    def alpha_shape(self) -> tuple[int, int]:
        """(rows, options) of one trial's alpha: every row, as many columns as the largest choice."""
        return len(self.labels()), max(len(choice.options) for choice in self.choices)

    def blocks(self) -> list[tuple[slice, int]]:
        """Each choice's rows and its number of options: the block ``weights[:, rows, :options]``."""
        out, start = [], 0
        for choice in self.choices:
            out.append((slice(start, start + len(choice.labels)), len(choice.options)))
            start += len(choice.labels)
        return out

    def genotypes(self, kept: torch.Tensor) -> list[Genotype]:
        """Per trial, the options ``kept`` ((T, rows, options) booleans) on every row: one, several (a
        mixed path) or none (a dropped edge); ``zero`` is never kept."""
        options = [choice.options for choice in self.choices for _ in choice.labels]
        return [
            Genotype(self.name, tuple(
                as_edge([o for o, keep in zip(names, row) if keep and o != "zero"]) for names, row in zip(options, trial)
            ))
            for trial in kept.tolist()
        ]

    def discretize(self, weights: torch.Tensor) -> list[Genotype]:
        """The argmax option of every row, per trial; a ``zero`` edge is dropped."""
        kept = torch.zeros_like(weights, dtype=torch.bool)
        for rows, options in self.blocks():
            kept[:, rows, :options] = F.one_hot(weights[:, rows, :options].argmax(-1), options).bool()
        return self.genotypes(kept)

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
        """(T, rows, options) weights that make this supernet compute the given architectures:
        one-hot on a row that keeps one option, ``1 / n`` on each of a mixed path's n (their
        mean: a sum would double the signal at every layer of a chain whose operations carry their
        input, 2^10 through the sequential space); a dropped edge is ``zero`` where the space has
        it, else a row of zeros (the sparse supernet may empty a layer)."""
        rows = [(choice, {name: k for k, name in enumerate(choice.options)}) for choice in self.choices for _ in choice.labels]
        weights = torch.zeros(len(genotypes), *self.alpha_shape(), dtype=self.skip.dtype)
        for t, genotype in enumerate(genotypes):
            if genotype.space != self.name:
                raise ConfigError(f"a {genotype.space} genotype cannot run in the {self.name} space")
            if len(genotype.ops) != len(rows):
                raise ConfigError(f"a {self.name} genotype has {len(rows)} ops, got {len(genotype.ops)}")
            for r, (op, (choice, index)) in enumerate(zip(genotype.ops, rows)):
                kept = edge_ops(op) or (("zero",) if "zero" in index else ())
                for name in kept:
                    if name not in index:
                        what = "operation" if choice.name == "operations" else choice.name
                        raise ConfigError(f"{what} {name!r} is not among {choice.options}")
                    weights[t, r, index[name]] = 1 / len(kept)
        return weights.to(self.skip.device)

