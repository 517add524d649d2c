"""The BOHB search space as a data file: ``bohb_das/spaces/das.yaml`` -> a ConfigSpace ``ConfigurationSpace``.

The file format (see the comments in ``bohb_das/spaces/das.yaml``) holds float / integer / categorical
hyperparameters and optional conditions, so a conditional hyperparameter (e.g. a Gumbel temperature
only for ``relaxation: gumbel``) is one more entry, not code: a ConfigSpace condition, so BOHB samples
and models it only where it is active. A condition on the run's ``method`` instead (e.g. the ZARTS
settings) is resolved when the space is built for a run: the method is fixed for the whole run, so
the setting is either always active or not in the space at all. Every error is a ``ConfigError``
naming the file and the field, because a typo in a space file would otherwise surface deep inside BOHB.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ConfigSpace import Categorical, ConfigurationSpace, EqualsCondition, Float, InCondition, Integer

from bohb_das.datafiles import SPACES_DIR, read_yaml
from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams

#: The Table-7 space shipped with the package.
DEFAULT_SPACE = SPACES_DIR / "das.yaml"

_NUMERIC_KEYS = {"type", "lower", "upper", "log", "default"}
_CATEGORICAL_KEYS = {"type", "choices", "default"}


def resolve_space_path(name_or_path: str | os.PathLike[str] | None) -> Path:
    """A path to a YAML file, or the name of a space under ``bohb_das/spaces/`` (None: the Table-7 space)."""
    if name_or_path is None:
        return DEFAULT_SPACE
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml") and not path.exists():
        path = SPACES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"space file {path} does not exist")
    return path


def read_space_file(name_or_path: str | os.PathLike[str] | None = None) -> tuple[Path, dict[str, Any]]:
    """The parsed YAML of a space file (validated by :func:`build_space`, not here)."""
    path = resolve_space_path(name_or_path)
    return path, read_yaml(path)


def load_space(name_or_path: str | os.PathLike[str] | None = None, seed: int | None = None,
               method: str = "das") -> ConfigurationSpace:
    """Loads and validates a space file into the ConfigurationSpace of a run of ``method``."""
    path, definition = read_space_file(name_or_path)
    return build_space(definition, source=str(path), seed=seed, method=method)


def build_space(definition: Any, source: str = "<space>", seed: int | None = None,
                method: str = "das") -> ConfigurationSpace:
    """Builds the ConfigurationSpace of a run of ``method`` from a parsed space definition; names
    must be HParams fields."""
    if not isinstance(definition, dict):
        raise ConfigError(f"{source}: expected a mapping with 'hyperparameters', got {type(definition).__name__}")
    unknown = sorted(set(definition) - {"name", "description", "hyperparameters", "conditions"})
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}")
    entries = definition.get("hyperparameters")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{source}: 'hyperparameters' must be a non-empty mapping")
    allowed = set(HParams.__dataclass_fields__)
    hyperparameters = {}
    for name, entry in entries.items():
        where = f"{source}: hyperparameters.{name}"
        if name not in allowed:
            raise ConfigError(f"{where}: not a hyperparameter of a trial (known: {', '.join(sorted(allowed))})")
        hyperparameters[name] = _hyperparameter(str(name), entry, where)
    conditions = definition.get("conditions") or []
    if not isinstance(conditions, list):
        raise ConfigError(f"{source}: 'conditions' must be a list")
    for index, entry in enumerate(conditions):  # method conditions first: they remove hyperparameters
        if isinstance(entry, dict) and "method" in entry:
            if not _method_applies(entry, hyperparameters, method, f"{source}: conditions[{index}]"):
                del hyperparameters[entry["child"]]
    space = ConfigurationSpace(seed=seed)
    space.add(list(hyperparameters.values()))
    for index, entry in enumerate(conditions):
        if not (isinstance(entry, dict) and "method" in entry):
            space.add(_condition(entry, hyperparameters, f"{source}: conditions[{index}]"))
    return space


def _hyperparameter(name: str, entry: Any, where: str):
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with 'type', got {entry!r}")
    kind = entry.get("type")
    if kind == "categorical":
        _refuse_unknown(entry, _CATEGORICAL_KEYS, where)
        choices = entry.get("choices")
        if not isinstance(choices, list) or len(choices) < 2 or len(set(map(repr, choices))) != len(choices):
            raise ConfigError(f"{where}.choices: expected a list of at least two distinct values, got {choices!r}")
        if not all(isinstance(c, (bool, int, float, str)) for c in choices):
            raise ConfigError(f"{where}.choices: values must be booleans, numbers or strings")
        default = entry.get("default", choices[0])
        if default not in choices:
            raise ConfigError(f"{where}.default: {default!r} is not one of the choices")
        return Categorical(name, items=choices, default=default)
    if kind in ("float", "integer"):
        _refuse_unknown(entry, _NUMERIC_KEYS, where)
        lower, upper = (_number(entry, key, kind, where) for key in ("lower", "upper"))
        log = entry.get("log", False)
        if not isinstance(log, bool):
            raise ConfigError(f"{where}.log: must be true or false, got {log!r}")
        if not lower < upper:
            raise ConfigError(f"{where}.lower: must be below upper ({lower!r} >= {upper!r})")
        if log and lower <= 0:
            raise ConfigError(f"{where}.lower: must be > 0 on a log scale, got {lower!r}")
        default = _number(entry, "default", kind, where) if "default" in entry else None
        if default is not None and not lower <= default <= upper:
            raise ConfigError(f"{where}.default: {default!r} is outside [{lower!r}, {upper!r}]")
        make = Float if kind == "float" else Integer
        return make(name, bounds=(lower, upper), log=log, default=default)
    raise ConfigError(f"{where}.type: must be float, integer or categorical, got {kind!r}")


def _number(entry: Mapping[str, Any], key: str, kind: str, where: str) -> float | int:
    value = entry.get(key)
    if isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
    if kind == "integer":
        if value != int(value):
            raise ConfigError(f"{where}.{key}: expected an integer, got {value!r}")
        return int(value)
    return float(value)


def _refuse_unknown(entry: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key for type {entry.get('type')}")


def _method_applies(entry: dict[str, Any], hyperparameters: Mapping[str, Any], method: str, where: str) -> bool:
    """Whether a ``{child, method: [...]}`` condition keeps its child for a run of ``method``."""
    from bohb_das.methods import METHODS

    unknown = sorted(set(entry) - {"child", "method"})
    if unknown or "child" not in entry:
        raise ConfigError(f"{where}: a method condition is {{child, method: [...]}}, got {entry!r}")
    if entry["child"] not in hyperparameters:
        raise ConfigError(f"{where}.child: unknown hyperparameter {entry['child']!r}")
    methods = entry["method"] if isinstance(entry["method"], list) else [entry["method"]]
    wrong = [m for m in methods if m not in METHODS]
    if wrong:
        raise ConfigError(f"{where}.method: unknown method {wrong[0]!r} (known: {', '.join(METHODS)})")
    return method in methods


def _condition(entry: Any, hyperparameters: Mapping[str, Any], where: str):
    if not isinstance(entry, dict) or "child" not in entry or "parent" not in entry:
        raise ConfigError(f"{where}: expected {{child, parent, equals | in}} or {{child, method}}, got {entry!r}")
    names = {}
    for role in ("child", "parent"):
        if entry[role] not in hyperparameters:
            raise ConfigError(f"{where}.{role}: unknown hyperparameter {entry[role]!r}")
        names[role] = hyperparameters[entry[role]]
    if ("equals" in entry) == ("in" in entry):
        raise ConfigError(f"{where}: give exactly one of 'equals' or 'in'")
    try:
        if "equals" in entry:
            return EqualsCondition(names["child"], names["parent"], entry["equals"])
        return InCondition(names["child"], names["parent"], list(entry["in"]))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
