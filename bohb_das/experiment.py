"""The run definition: what a trial computes, apart from its seed, its epochs and its hyperparameters.

``TrialSpec`` (one trial), ``bohb.study.Study`` (a BOHB run: the definition plus its target and
schedule) and ``tables.Grid`` (a table: the definition, some fields of it as axes) are built from
this one type, so a new field of the definition is one edit here: every trial spec, study manifest,
worker task and table grid carries it from then on. A field whose value every existing record had
should be written only where it differs (as ``TrialSpec.to_dict`` does with ``retrain``), so that
records and cache keys stand.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from bohb_das.errors import ConfigError, require_integer
from bohb_das.methods import METHODS
from bohb_das.operations import OP_SETS
from bohb_das.problems import get_problem
from bohb_das.profiles import Profile, load_profile
from bohb_das.search_spaces import SPACES


@dataclass(frozen=True)
class Experiment:
    """``profile``: the experiment profile (a ``Profile``, or a name or YAML path to load; default:
    the default profile). ``retrain=False`` stops after the search (the one-shot target alone), which
    needs a method with a supernet. Invalid names or values raise ConfigError."""

    formation: str = "blur"
    ops: str = "all"
    space: str = "sequential"
    method: str = "das"
    width: int = 32
    profile: Profile = field(default_factory=load_profile)
    retrain: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", load_profile(self.profile))
        get_problem(self.formation, self.profile)
        OP_SETS[self.ops]
        own = SPACES[self.space].own_candidates
        if own is not None and self.ops != "all":
            raise ConfigError(f"the {self.space} space chooses among {', '.join(own)}, not operations: --ops does not apply to it (leave it at all, got {self.ops})")
        METHODS[self.method]
        require_integer("width", self.width)
        if not isinstance(self.retrain, bool):
            raise ConfigError(f"retrain must be true or false, got {self.retrain!r}")
        if not self.retrain and not METHODS[self.method].one_shot:
            raise ConfigError(f"without retraining {self.method} has no result (no supernet): --no-retrain needs a searching method")

    def definition(self) -> dict[str, Any]:
        """The run definition's fields of this value (of a TrialSpec or a Study too), to build another from."""
        return {f.name: getattr(self, f.name) for f in fields(Experiment)}
