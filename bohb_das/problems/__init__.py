"""Inverse problems (the paper's "formations"): what a trial reconstructs, from what measurement.

``PROBLEMS`` maps a name (the ``--formation`` of the CLI and the ``formation`` of a trial record) to a
builder ``(Profile) -> Problem``. The built-ins: the paper's 1-D cosine problems in ``cosine1d``, 2-D
image restoration on natural-image patches in ``images2d``. A new problem
is one module that subclasses :class:`bohb_das.problems.base.Problem` and registers its builder with
``@PROBLEMS.register("name")``, inside bohb-das or in a user's package (``bohb_das.registry``).
"""

from __future__ import annotations

from typing import Callable

from bohb_das.problems.base import Problem
from bohb_das.profiles import Profile, load_profile
from bohb_das.registry import Registry

PROBLEMS: Registry[Callable[[Profile], Problem]] = Registry("formation")  # the word users type: --formation


def get_problem(name: str, profile: Profile | str | None = None) -> Problem:
    """The problem ``name`` under ``profile`` (default: the default profile)."""
    return PROBLEMS[name](load_profile(profile))

