"""The tunable settings a plugin owns (a relaxation, an architecture update), beyond Table 7.

A plugin declares its settings as a frozen dataclass subclass of ``Settings``, each field a number
(int or float) made with ``setting``: the default, the help line and the range live there and
nowhere else. It registers the type in ``SETTINGS`` under the name of what owns it (``gumbel``,
``zarts``, ...). From the registry (``bohb_das.hparams.setting_owners``) ``HParams`` accepts the
settings in presets, BOHB configurations and trial records by their flat field names (unique across
plugins: prefix them), validates them, and leaves them out of a record where they keep their
defaults; the CLI offers each as a flag with its help.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from bohb_das.errors import ConfigError, require_integer
from bohb_das.registry import Registry


def setting(default: float | int, help: str, *, lowest: float | None = None, positive: bool = False) -> Any:
    """A field of a ``Settings`` type: ``default``, a ``help`` line, and its range (``positive``: > 0;
    ``lowest``: >= that, for ints the smallest allowed integer)."""
    return field(default=default, metadata={"help": help, "lowest": lowest, "positive": positive})


@dataclass(frozen=True)
class Settings:
    """Base of a plugin's settings. Subclasses may override ``check`` for constraints between
    fields (called after every field's own range check)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_value(f.name, getattr(self, f.name), f.type, f.metadata)
        self.check()

    def check(self) -> None:
        """Constraints between fields: a ConfigError naming them."""


#: Settings types by owner name (``zarts``: the ZARTS updates, ``gumbel``: the Gumbel relaxation, ...).
SETTINGS: Registry[type[Settings]] = Registry("settings")


def default_of(kind: type[Settings], name: str) -> Any:
    default = kind.__dataclass_fields__[name].default
    return None if default is MISSING else default


def _check_value(name: str, value: Any, annotation: Any, metadata: Any) -> None:
    if annotation in ("int", int):
        require_integer(name, value, lowest=int(metadata.get("lowest") if metadata.get("lowest") is not None else 1))
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if metadata.get("positive") and value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    lowest = metadata.get("lowest")
    if lowest is not None and value < lowest:
        raise ConfigError(f"{name} must be >= {lowest:g}, got {value!r}")
