"""Architecture updates: how one search step moves alpha.

An update is a function of the ``bohb_das.search.ArchitectureStep`` (its batch source, objective,
alpha, relaxation and optimizer) that returns alpha's gradient, which the step's optimizer then
applies with each trial's learning rate and schedule, or moves alpha itself and returns None. All of
them minimize the same objective: the validation loss at the relaxed weights plus the relaxation's
penalty. The built-ins, one module each, register in ``UPDATES`` as a user's plugin module does:
``first_order`` (DAS), ``second_order`` (unrolled DARTS), and the ZARTS updates ``zarts_rs``,
``zarts_mgs`` and ``zarts_gld`` (``zero_order``). ``bohb_das.methods.searching(name)`` turns an
update into a method.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Callable

import torch

from bohb_das.registry import Registry

if TYPE_CHECKING:
    from bohb_das.search import ArchitectureStep

Update = Callable[["ArchitectureStep"], "torch.Tensor | None"]

#: Architecture updates by name.
UPDATES: Registry[Update] = Registry("architecture update")

for _builtin in ("first_order", "second_order", "zero_order"):  # register on import, as a plugin's module does
    import_module(f"bohb_das.updates.{_builtin}")
