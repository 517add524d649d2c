"""Registries of plugin kinds: the built-ins and a user's plugins come in through the same door.

A registry maps names to what a kind needs (a problem's builder, an operation, a relaxation's
class, ...). A module registers with ``REGISTRY.register(name)``, and bohb-das finds it without being
edited: its package declares it as an entry point in the group ``bohb_das.plugins`` (in
``pyproject.toml``: ``[project.entry-points."bohb_das.plugins"] mine = "my_package.my_module"``), and
the first lookup in any registry imports every such module once. The built-in modules are entry
points of bohb-das's own (setup.cfg), so no package imports its built-ins to register them and the
import graph has no circles (``tests/test_imports.py``). Unknown names, names registered twice and
plugins that fail to import are one-line ``ConfigError``s naming the culprit.
"""

from __future__ import annotations

import sys
import threading
from importlib import metadata
from typing import Callable, Generic, Iterator, TypeVar

from bohb_das.errors import ConfigError

PLUGIN_GROUP = "bohb_das.plugins"

T = TypeVar("T")

_loaded = False
_lock = threading.Lock()


def load_plugins() -> None:
    """Imports every module of the ``bohb_das.plugins`` entry points (once per process): bohb-das's
    own first, then the plugins', each by entry name, so that the registration order (listings,
    help texts) does not depend on how the metadata happens to be read."""
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        entries = metadata.entry_points(group=PLUGIN_GROUP)
        for entry in sorted(entries, key=lambda e: (e.dist is None or e.dist.name != "bohb-das", e.name)):
            try:
                entry.load()
            except Exception as exc:  # a plugin's own error, whatever it is, named in one line
                raise ConfigError(f"plugin {entry.name!r} ({entry.value}) failed to load: "
                                  f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None


class Registry(Generic[T]):
    """Names -> entries of one plugin kind (``kind`` names it in errors), read like a mapping:
    ``registry[name]`` (an unknown name is a ``ConfigError`` listing the known ones), ``name in
    registry``, iteration over the names in registration order. Every read loads the plugins first."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._modules: dict[str, str] = {}  # name -> the module that registered it

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator that registers its argument under ``name`` and returns it unchanged."""
        if not isinstance(name, str) or not name or ":" in name:
            raise ConfigError(f"a {self.kind} name must be a non-empty string without ':', got {name!r}")

        def add(entry: T) -> T:
            module = sys._getframe(1).f_globals.get("__name__", "?")  # the registering module's code calls add
            if self._entries.get(name, entry) is not entry:
                raise ConfigError(f"{self.kind} {name!r} is registered twice (by {self._modules[name]} and {module})")
            self._entries[name], self._modules[name] = entry, module
            return entry

        return add

    def __getitem__(self, name: str) -> T:
        load_plugins()
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r} (known: {', '.join(self._entries)})")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        load_plugins()
        return iter(list(self._entries))

    def __len__(self) -> int:
        load_plugins()
        return len(self._entries)

    def modules(self) -> dict[str, str]:
        """Name -> the module that registered it (a built-in's or a plugin's)."""
        load_plugins()
        return dict(self._modules)
