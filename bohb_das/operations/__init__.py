"""Candidate operations: what each edge of a supernet may compute, batched over trials.

Every tensor carries the trial index as its leading dimension: signals are (T, batch, *signal),
parameters are (T, ...). An ``Operation`` has the form ``op(u) = direct(u) + coef * n(u)``, where
``n`` is the operation's own small network (``mixed``: computed for every candidate of an edge in
one fused pass) and ``direct`` a parameter-free function of the estimate, the data-term gradient and
a learnable step size. The built-ins (``basic``: learnable gradient step, net, roll, noise, zero, and
the operation sets ``good`` and ``all``) register in ``OPERATIONS`` and ``OP_SETS`` as a user's plugin
module registers its own, loaded through the same entry-point group (``bohb_das.registry``); the
mixed operation, the engine, is ``mixed.MixedOp``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from bohb_das.problems.base import Problem
from bohb_das.profiles import Profile
from bohb_das.registry import Registry
from bohb_das.rng import TrialStreams

Direct = Callable[[torch.Tensor, "torch.Tensor | None", "torch.Tensor | None", "Context"], torch.Tensor]


def per_trial(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(T,) values shaped to broadcast over a (T, batch, *signal) tensor."""
    return values.view(-1, *[1] * (like.dim() - 1))


@dataclass(frozen=True)
class Operation:
    """``op(u) = direct(u) + coef * n(u)``.

    ``step``: the op owns a learnable step size tau > 0 and ``direct`` receives the data-term gradient
    ``A^T(A u - y)``. ``learned_net``: the op owns n(u); its coefficient is ``-tau`` for a step op
    (the learnable gradient descent of the paper, eq. 6) and 1 otherwise.
    """

    name: str
    direct: Direct | None
    learned_net: bool
    step: bool
    harmful: bool = False
    random: bool = False  # draws from the trial streams at every call


#: Operations by name; a plugin registers its own with ``OPERATIONS.register(op.name)(op)``.
OPERATIONS: Registry[Operation] = Registry("operation")
#: The candidate sets a search chooses from (``--ops``); a plugin's operation joins a set it registers.
OP_SETS: Registry[tuple[str, ...]] = Registry("operation set")


@dataclass
class Context:
    """What every operation may read during one forward pass over a batch.

    ``u0 = A^T y`` and the ``problem`` give the data-term gradient (:meth:`data_gradient`); the noise
    operation draws from the per-trial ``streams`` at every call, in training and evaluation alike;
    the roll operation shifts along ``roll_dims`` (``Profile.roll_dims``). The problem's profile
    holds the readings an operation may depend on (``noise_op_std``, ``roll_shift``, ...).
    """

    u0: torch.Tensor
    problem: Problem
    streams: TrialStreams
    roll_dims: tuple[int, ...] = (-1,)

    def data_gradient(self, u: torch.Tensor) -> torch.Tensor:
        """``A^T (A u - y)`` of every signal of ``u``."""
        return self.problem.data_gradient(u, self.u0)

    @property
    def profile(self) -> Profile:
        return self.problem.profile

    def noise(self, like: torch.Tensor) -> torch.Tensor:
        """N(0, noise_op_std^2) of ``like``'s shape, a row per trial from its stream."""
        return self.profile.noise_op_std * self.streams.randn(*like.shape[1:], dtype=like.dtype)

