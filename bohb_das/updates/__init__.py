"""Architecture updates: how one search step moves alpha.

An update is a function of the ``bohb_das.search.ArchitectureStep`` (its batch source, objective,
alpha, relaxation and optimizer) that returns alpha's gradient, which the step's optimizer then
applies with each trial's learning rate and schedule, or moves alpha itself and returns None. All of
them minimize the same objective: the validation loss at the relaxed weights plus the relaxation's
penalty. The built-ins, one module each, register in ``UPDATES`` as a user's plugin module does:
``first_order`` (DAS), ``second_order`` (unrolled DARTS), the ZARTS updates ``zarts_rs``,
``zarts_mgs`` and ``zarts_gld`` (``zero_order``) and the sparse supernet's ``hapg`` (``proximal``),
loaded through the plugins' entry-point group.
``bohb_das.methods.searching(name)`` turns an update into a method.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from bohb_das.registry import Registry

#: ``update(step)`` with ``step`` a ``bohb_das.search.ArchitectureStep`` (not imported here: the
#: search reads this registry, so the package stays below it in the import graph).
Update = Callable[[Any], "torch.Tensor | None"]

#: Architecture updates by name.
UPDATES: Registry[Update] = Registry("architecture update")
