"""The tunable settings a plugin owns (a relaxation, an architecture update), beyond Table 7.

A plugin declares its settings as a frozen dataclass subclass of ``Settings``, each field a number
(int or float) made with ``setting`` or one of a few names made with ``choice``: the default, the
help line and the range (or the names) live there and nowhere else. It registers the type in
``SETTINGS`` under the name of what owns it (``gumbel``, ``zarts``, ...). From the registry
(``bohb_das.hparams.setting_owners``) ``HParams`` accepts the settings in presets, BOHB
configurations and trial records by their flat field names (unique across plugins: prefix them),
validates them, and leaves them out of a record where they keep their defaults; the CLI offers each
as a flag with its help.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Protocol, TypeVar

from bohb_das.errors import ConfigError, require_choice, require_integer, require_number
from bohb_das.registry import Registry


def setting(default: float | int, help: str, *, lowest: float | None = None, positive: bool = False) -> Any:
    """A field of a ``Settings`` type: ``default``, a ``help`` line, and its range (``positive``: > 0;
    ``lowest``: >= that, for ints the smallest allowed integer)."""
    return field(default=default, metadata={"help": help, "lowest": lowest, "positive": positive})


def choice(default: str, help: str, choices: tuple[str, ...]) -> Any:
    """A field of a ``Settings`` type that is one of the names ``choices`` (``default`` among them)."""
    if default not in choices:
        raise ConfigError(f"a choice's default {default!r} must be one of {', '.join(choices)}")
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class Settings:
    """Base of a plugin's settings. Subclasses may override ``check`` for constraints between
    fields (called after every field's own range check)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_value(type(self), f.name, getattr(self, f.name))
        self.check()

    def check(self) -> None:
        """Constraints between fields: a ConfigError naming them."""


#: Settings types by owner name (``zarts``: the ZARTS updates, ``gumbel``: the Gumbel relaxation, ...).
SETTINGS: Registry[type[Settings]] = Registry("settings")

S = TypeVar("S", bound=Settings)


class SettingsSource(Protocol):
    """What a plugin reads its settings from: ``bohb_das.hparams.HParams``, named here so that a
    plugin kind's module need not import the hyperparameters (which validate against its registry)."""

    def of(self, kind: type[S]) -> S: ...


def default_of(kind: type[Settings], name: str) -> Any:
    default = kind.__dataclass_fields__[name].default
    return None if default is MISSING else default


def choices_of(kind: type[Settings], name: str) -> tuple[str, ...] | None:
    """The names a ``choice`` field may take; None for a number."""
    return kind.__dataclass_fields__[name].metadata.get("choices")


def value_type(kind: type[Settings], name: str) -> type[str] | type[int] | type[float]:
    """``str`` for a ``choice``, ``int`` for a field annotated ``int``, else ``float``."""
    if choices_of(kind, name) is not None:
        return str
    return int if kind.__dataclass_fields__[name].type in ("int", int) else float


def format_default(kind: type[Settings], name: str) -> str:
    """The default as a help text writes it."""
    default = default_of(kind, name)
    return default if isinstance(default, str) else f"{default:g}"


def _check_value(kind: type[Settings], name: str, value: Any) -> None:
    metadata = kind.__dataclass_fields__[name].metadata
    lowest = metadata.get("lowest")
    choices = choices_of(kind, name)
    if choices is not None:
        require_choice(name, value, choices)
    elif value_type(kind, name) is int:
        require_integer(name, value, lowest=1 if lowest is None else int(lowest))
    else:
        require_number(name, value, positive=metadata.get("positive", False), lowest=lowest)
