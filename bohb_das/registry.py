"""Registries of plugin kinds: the built-ins and a user's plugins come in through the same door.

A registry maps names to what a kind needs (a problem's builder, ...). Built-in modules register
with ``REGISTRY.register(name)``; so does a user's module, which bohb-das finds without being edited:
the user's package declares it as an entry point in the group ``bohb_das.plugins`` (in
``pyproject.toml``: ``[project.entry-points."bohb_das.plugins"] mine = "my_package.my_module"``), and
the first lookup in any registry imports every such module once. Unknown names, names registered
twice and plugins that fail to import are one-line ``ConfigError``s naming the culprit.
"""

from __future__ import annotations

import threading
from importlib import metadata
from typing import Callable, Generic, TypeVar

from bohb_das.errors import ConfigError

PLUGIN_GROUP = "bohb_das.plugins"

T = TypeVar("T")

_loaded = False
_lock = threading.Lock()


def load_plugins() -> None:
    """Imports every module of the ``bohb_das.plugins`` entry points (once per process)."""
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        for entry in metadata.entry_points(group=PLUGIN_GROUP):
            try:
                entry.load()
            except Exception as exc:  # a plugin's own error, whatever it is, named in one line
                raise ConfigError(f"plugin {entry.name!r} ({entry.value}) failed to load: "
                                  f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None


class Registry(Generic[T]):
    """Names -> entries of one plugin kind (``kind`` names it in errors)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator that registers its argument under ``name`` and returns it unchanged."""
        if not isinstance(name, str) or not name or ":" in name:
            raise ConfigError(f"a {self.kind} name must be a non-empty string without ':', got {name!r}")

        def add(entry: T) -> T:
            if self._entries.get(name, entry) is not entry:
                raise ConfigError(f"{self.kind} {name!r} is registered twice (by {_origin(self._entries[name])} "
                                  f"and {_origin(entry)})")
            self._entries[name] = entry
            return entry

        return add

    def names(self) -> list[str]:
        load_plugins()
        return list(self._entries)

    def get(self, name: str) -> T:
        load_plugins()
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r} (known: {', '.join(self._entries)})")
        return self._entries[name]


def _origin(entry: object) -> str:
    return f"{getattr(entry, '__module__', '?')}.{getattr(entry, '__qualname__', type(entry).__name__)}"
