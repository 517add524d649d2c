"""The eight DAS training hyperparameters of the paper's Table 7, the settings of the methods beyond
the paper, and named presets.

A preset is a YAML mapping of (a subset of) these fields; the rest keep their defaults. Presets ship
as data in ``bohb_das/spaces/presets/`` under the paper's names (H1, H2, the BOHB incumbents);
wherever a preset name is accepted, a path to a YAML file is accepted too, and the user's exported
presets (``user_presets_dir``) are found by name first. Every value is validated on construction so
that a typo in a file ends in a one-line error naming the file and the field, not in a diverged run.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from bohb_das.datafiles import SPACES_DIR, names, read_mapping, resolve, user_dir
from bohb_das.errors import ConfigError, require_integer
from bohb_das.registry import load_plugins
from bohb_das.relaxations import RELAXATIONS

SCHEDULERS = ("none", "linear")
OPTIMIZERS = ("adam", "gd")

PRESETS_DIR = SPACES_DIR / "presets"


def user_presets_dir() -> Path:
    """Where ``query --export NAME`` writes; found by name before the shipped presets."""
    return user_dir() / "presets"


@dataclass(frozen=True)
class HParams:
    """Weights always use Adam; ``alpha_optimizer`` picks Adam or plain gradient descent for alpha.
    ``relaxation`` and its settings apply to every searching method, ``zo_*`` to the ZARTS methods."""

    weight_lr: float = 1e-3
    weight_decay: float = 1e-8
    weight_warmup: bool = False
    alpha_lr: float = 1e-3
    alpha_decay: float = 1e-3
    alpha_warmup: bool = True
    alpha_scheduler: str = "linear"
    alpha_optimizer: str = "gd"
    # Beyond the paper (bohb_das.relaxations, bohb_das.updates.zero_order): written out only where they
    # differ from these defaults, so a paper trial's record (and cache key) does not mention them.
    relaxation: str = "softmax"
    gumbel_tau_max: float = 10.0
    gumbel_tau_min: float = 0.1
    sparsestmax_ramp: float = 1.0
    zero_one_weight: float = 10.0
    zo_samples: int = 4
    zo_radius: float = 0.1
    zo_inner_steps: int = 2

    def __post_init__(self) -> None:
        for name in ("weight_lr", "alpha_lr"):
            _check_float(name, getattr(self, name), positive=True)
        for name in ("weight_decay", "alpha_decay"):
            _check_float(name, getattr(self, name), positive=False)
        for name in ("weight_warmup", "alpha_warmup"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name, allowed in (("alpha_scheduler", SCHEDULERS), ("alpha_optimizer", OPTIMIZERS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.relaxation not in RELAXATIONS:
            raise ConfigError(f"relaxation must be one of {', '.join(RELAXATIONS)}, got {self.relaxation!r}")
        for name in ("gumbel_tau_max", "gumbel_tau_min", "sparsestmax_ramp", "zo_radius"):
            _check_float(name, getattr(self, name), positive=True)
        _check_float("zero_one_weight", self.zero_one_weight, positive=False)
        if self.gumbel_tau_min > self.gumbel_tau_max:
            raise ConfigError(f"gumbel_tau_min must be <= gumbel_tau_max, got {self.gumbel_tau_min!r} > {self.gumbel_tau_max!r}")
        if self.sparsestmax_ramp > 1:
            raise ConfigError(f"sparsestmax_ramp is a fraction of the search in (0, 1], got {self.sparsestmax_ramp!r}")
        require_integer("zo_samples", self.zo_samples)
        require_integer("zo_inner_steps", self.zo_inner_steps, lowest=0)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], defaults: "HParams | None" = None) -> "HParams":
        """Builds from a mapping of (a subset of) the fields; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown hyperparameter {unknown[0]!r} (known: {', '.join(sorted(known))})")
        base = asdict(defaults or cls())
        base.update({k: _normalize(k, v) for k, v in values.items()})
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        """The Table-7 fields always, the others where they differ from their defaults."""
        defaults = HParams.__dataclass_fields__
        return {
            name: value for name, value in asdict(self).items()
            if name in TABLE7 or value != defaults[name].default
        }


#: The paper's eight hyperparameters (Table 7), in its order.
TABLE7 = tuple(f.name for f in fields(HParams))[:8]


FLOAT_FIELDS = frozenset(f.name for f in fields(HParams) if f.type == "float")


def _normalize(name: str, value: Any) -> Any:
    """Plain Python values (YAML and ConfigSpace hand over numpy scalars and mixed case)."""
    if hasattr(value, "item"):
        value = value.item()
    if name in ("alpha_scheduler", "alpha_optimizer", "relaxation") and isinstance(value, str):
        value = value.lower()
        if name == "alpha_scheduler" and value == "null":
            value = "none"
    if name == "alpha_scheduler" and value is None:
        value = "none"
    if isinstance(value, str) and name in FLOAT_FIELDS:
        try:  # YAML 1.1 (PyYAML) reads 1e-8, without a dot, as a string
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, int) and not isinstance(value, bool) and name in FLOAT_FIELDS:
        value = float(value)
    return value


def _check_float(name: str, value: Any, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    if not positive and value < 0:
        raise ConfigError(f"{name} must be >= 0, got {value!r}")


def preset_names() -> list[str]:
    return names(user_presets_dir(), PRESETS_DIR)


def resolve_preset_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A path to an existing file, or the name of a user's or a shipped preset (the user's first)."""
    return resolve(name_or_path, [user_presets_dir(), PRESETS_DIR], "preset")


def load_preset(name_or_path: str | os.PathLike[str]) -> HParams:
    """Loads a preset by name or path; errors name the file and the offending field."""
    path = resolve_preset_path(name_or_path)
    values = read_mapping(path, "hyperparameters")
    load_plugins()  # a plugin's own failure is not this file's: raised before the file is named
    try:
        return HParams.from_mapping(values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
