"""The one exception type for bad user input (the CLI turns it into a one-line message and exit 2),
and the integer, number and name checks that the validators share."""

import math
from typing import Any, Collection


class ConfigError(ValueError):
    """Malformed or out-of-range input: an unknown name, an invalid value, a broken file."""


def is_integer(value: Any, lowest: int) -> bool:
    """An int (not a bool, which Python counts as one) of at least ``lowest``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= lowest


def require_integer(name: str, value: Any, lowest: int = 1) -> None:
    """Raises a ConfigError naming ``name`` unless ``value`` is an integer >= ``lowest``."""
    if not is_integer(value, lowest):
        wanted = {1: "a positive integer", 0: "a non-negative integer"}.get(lowest, f"an integer >= {lowest}")
        raise ConfigError(f"{name} must be {wanted}, got {value!r}")


def require_number(name: str, value: Any, *, positive: bool = False, lowest: float | None = None) -> None:
    """Raises a ConfigError naming ``name`` unless ``value`` is a finite number (not a bool), > 0
    where ``positive``, >= ``lowest`` where given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    if lowest is not None and value < lowest:
        raise ConfigError(f"{name} must be >= {lowest:g}, got {value!r}")


def require_choice(name: str, value: Any, allowed: Collection[str]) -> None:
    """Raises a ConfigError naming ``name`` unless ``value`` is one of ``allowed`` (a tuple, a registry)."""
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
