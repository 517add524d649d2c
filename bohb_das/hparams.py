"""The eight DAS training hyperparameters of the paper's Table 7, the settings of the methods beyond
the paper, and named presets.

A preset is a YAML mapping of (a subset of) these fields; the rest keep their defaults. Presets ship
as data in ``spaces/presets/`` under the paper's names (H1, H2, the BOHB incumbents);
wherever a preset name is accepted, a path to a YAML file is accepted too, and the user's exported
presets (``user_presets_dir``) are found by name first. Every value is validated on construction so
that a typo in a file ends in a one-line error naming the file and the field, not in a diverged run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from bohb_das.datafiles import SPACES_DIR, names, read_mapping, resolve, user_dir
from bohb_das.errors import ConfigError, require_choice, require_number
from bohb_das.registry import load_plugins
from bohb_das.relaxations import RELAXATIONS
from bohb_das.settings import SETTINGS, S, Settings, default_of, value_type

SCHEDULERS = ("none", "linear")
OPTIMIZERS = ("adam", "gd")

PRESETS_DIR = SPACES_DIR / "presets"


def user_presets_dir() -> Path:
    """Where ``query --export NAME`` writes; found by name before the shipped presets."""
    return user_dir() / "presets"


@dataclass(frozen=True)
class HParams:
    """Weights always use Adam; ``alpha_optimizer`` picks Adam or plain gradient descent for alpha.
    ``relaxation`` applies to every searching method. ``settings``: the values of plugin settings
    (``bohb_das.settings``: a relaxation's, the ZARTS updates') that differ from their defaults, as
    sorted (name, value) pairs; read them with ``of``. Build with ``from_mapping`` to set them by name."""

    weight_lr: float = 1e-3
    weight_decay: float = 1e-8
    weight_warmup: bool = False
    alpha_lr: float = 1e-3
    alpha_decay: float = 1e-3
    alpha_warmup: bool = True
    alpha_scheduler: str = "linear"
    alpha_optimizer: str = "gd"
    # Beyond the paper: written out only where they differ from their defaults, so a paper trial's
    # record (and cache key) does not mention them.
    relaxation: str = "softmax"
    settings: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        for name in ("weight_lr", "alpha_lr"):
            require_number(name, getattr(self, name), positive=True)
        for name in ("weight_decay", "alpha_decay"):
            require_number(name, getattr(self, name), lowest=0)
        for name in ("weight_warmup", "alpha_warmup"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name, allowed in (("alpha_scheduler", SCHEDULERS), ("alpha_optimizer", OPTIMIZERS)):
            require_choice(name, getattr(self, name), allowed)
        require_choice("relaxation", self.relaxation, RELAXATIONS)
        owners = setting_owners()
        values = dict(self.settings)
        unknown = sorted(set(values) - set(owners))
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(owners))})")
        kinds = {kind for name, (_, kind) in owners.items() if name in values}
        for kind in kinds:  # validates the values (ranges, constraints between fields)
            kind(**{f.name: values[f.name] for f in fields(kind) if f.name in values})
        canonical = tuple(sorted((k, v) for k, v in values.items() if v != default_of(owners[k][1], k)))
        object.__setattr__(self, "settings", canonical)

    def of(self, kind: type[S]) -> S:
        """The settings of type ``kind`` in these hyperparameters (defaults where not set)."""
        names = {f.name for f in fields(kind)}
        return kind(**{k: v for k, v in self.settings if k in names})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], defaults: "HParams | None" = None) -> "HParams":
        """Builds from a mapping of (a subset of) the fields and plugin settings, by name, over
        ``defaults``; unknown names are refused."""
        known = hyperparameter_names()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown hyperparameter {unknown[0]!r} (known: {', '.join(sorted(known))})")
        base = defaults or cls()
        owners = setting_owners()
        floats = FLOAT_FIELDS | {k for k, (_, kind) in owners.items() if value_type(kind, k) is float}
        given = {k: _normalize(k, v, floats) for k, v in values.items()}
        settings = {**dict(base.settings), **{k: v for k, v in given.items() if k not in CORE}}
        return replace(base, **{k: v for k, v in given.items() if k in CORE}, settings=tuple(settings.items()))

    def to_dict(self) -> dict[str, Any]:
        """The Table-7 fields always, the relaxation and the settings where they differ from their defaults."""
        out = {name: getattr(self, name) for name in TABLE7}
        if self.relaxation != "softmax":
            out["relaxation"] = self.relaxation
        return {**out, **dict(self.settings)}


#: The paper's eight hyperparameters (Table 7), in its order.
TABLE7 = tuple(f.name for f in fields(HParams))[:8]

#: The fields of every trial; the plugin settings come on top (``hyperparameter_names``).
CORE = (*TABLE7, "relaxation")

FLOAT_FIELDS = frozenset(f.name for f in fields(HParams) if f.type == "float")



def setting_owners() -> dict[str, tuple[str, type[Settings]]]:
    """Every plugin setting, built-in or a plugin's: name -> (owner, its settings type)."""
    owners: dict[str, tuple[str, type[Settings]]] = {}
    for owner in SETTINGS:
        for f in fields(SETTINGS[owner]):
            if f.name in owners or f.name in CORE:
                raise ConfigError(f"setting {f.name!r} is declared twice (by {owners.get(f.name, ('HParams',))[0]} "
                                  f"and {owner})")
            owners[f.name] = (owner, SETTINGS[owner])
    return owners


def hyperparameter_names() -> list[str]:
    """Every name a preset, a BOHB space, a record or a flag may set: the core fields, then the settings."""
    return [*CORE, *setting_owners()]


def _normalize(name: str, value: Any, floats: frozenset[str] | set[str]) -> Any:
    """Plain Python values (YAML and ConfigSpace hand over numpy scalars and mixed case)."""
    if hasattr(value, "item"):
        value = value.item()
    if name in ("alpha_scheduler", "alpha_optimizer", "relaxation") and isinstance(value, str):
        value = value.lower()
        if name == "alpha_scheduler" and value == "null":
            value = "none"
    if name == "alpha_scheduler" and value is None:
        value = "none"
    if isinstance(value, str) and name in floats:
        try:  # YAML 1.1 (PyYAML) reads 1e-8, without a dot, as a string
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, int) and not isinstance(value, bool) and name in floats:
        value = float(value)
    return value


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
