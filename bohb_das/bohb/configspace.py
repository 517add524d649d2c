"""The BOHB search space as a data file in ConfigSpace's own serialization (``spaces/das.yaml``).

ConfigSpace reads these files itself (``ConfigurationSpace.from_yaml``), so other tools can load a
bohb-das space; bohb-das reads them through ConfigSpace's decoder too and adds what ConfigSpace cannot
know: every name must be a hyperparameter (``hparams.hyperparameter_names``: Table 7, the relaxation
and the registered plugin settings), and every error is a one-line ``ConfigError`` naming the file
and the entry (ConfigSpace raises ``KeyError`` / ``TypeError`` / ``ValueError`` with no file),
because a typo in a space file would otherwise surface deep inside BOHB. Unknown top-level keys are
refused: ConfigSpace ignores them, so a misspelt ``conditions`` would silently drop every condition.

One extension, in a hyperparameter's ``meta`` (which ConfigSpace keeps untouched): ``meta: {methods:
[...]}`` puts it in the space of a run of those methods only. The method is fixed for a whole run, so
a ConfigSpace condition (sampled and modelled by BOHB) would be the wrong tool: the setting is either
always active or not in the space at all. For the same reason a method that works with one
relaxation only (``Method.relaxation``: the sparse supernet's ``identity``) does not tune it: its
space has no ``relaxation``, none of the settings conditioned on another relaxation, and those
conditioned on its own always active.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from ConfigSpace import ConfigurationSpace

from bohb_das.datafiles import SPACES_DIR, read_yaml
from bohb_das.errors import ConfigError
from bohb_das.hparams import hyperparameter_names

#: The Table-7 space shipped with the package.
DEFAULT_SPACE = SPACES_DIR / "das.yaml"

#: ConfigSpace's top-level keys, and ``description`` (ConfigSpace ignores it; bohb-das shows it).
_KEYS = {"format_version", "python_module_version", "name", "description", "hyperparameters", "conditions",
         "forbiddens"}


def resolve_space_path(name_or_path: str | os.PathLike[str] | None) -> Path:
    """A path to a YAML file, or the name of a space under ``spaces/`` (None: the Table-7 space)."""
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
    """The ConfigurationSpace of a run of ``method`` from a parsed space file (ConfigSpace's
    serialized form): its hyperparameters without those whose ``meta.methods`` leaves ``method`` out."""
    if not isinstance(definition, dict):
        raise ConfigError(f"{source}: expected a mapping with 'hyperparameters', got {type(definition).__name__}")
    unknown = sorted(set(definition) - _KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    entries = definition.get("hyperparameters")
    if isinstance(entries, dict):
        raise ConfigError(f"{source}: 'hyperparameters' is a mapping, the format before ConfigSpace's; write a list "
                          f"of {{name, type, ...}} entries as in {DEFAULT_SPACE}")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: 'hyperparameters' must be a non-empty list")
    allowed = set(hyperparameter_names())
    conditions = definition.get("conditions") or []
    if not isinstance(conditions, list):
        raise ConfigError(f"{source}: 'conditions' must be a list")
    entries, conditions = _fix_relaxation(entries, conditions, method)
    kept, dropped = [], set()
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"{source}: hyperparameters[{index}]" + (f" ({name})" if isinstance(name, str) else "")
        if name not in allowed:
            raise ConfigError(f"{where}: name {name!r} is not a hyperparameter of a trial (known: {', '.join(sorted(allowed))})")
        _check_range(entry, where)
        _decode({"hyperparameters": [entry]}, where)  # a bad entry is named before the whole space is tried
        if method in _methods(entry, where):
            kept.append(entry)
        else:
            dropped.add(name)
    active = []
    for index, entry in enumerate(conditions):
        if isinstance(entry, dict) and {entry.get("child"), entry.get("parent")} & dropped:
            continue  # conditions on a hyperparameter that this run's method does not have
        where = f"{source}: conditions[{index}]"
        for role in ("child", "parent"):
            if isinstance(entry, dict) and entry.get(role) not in {e["name"] for e in kept}:
                raise ConfigError(f"{where}.{role}: unknown hyperparameter {entry.get(role)!r}")
        _decode({"hyperparameters": kept, "conditions": [entry]}, where)
        active.append(entry)
    space = _decode({**definition, "hyperparameters": kept, "conditions": active}, source)
    if seed is not None:
        space.seed(seed)
    return space


def _fix_relaxation(entries: list[Any], conditions: list[Any], method: str) -> tuple[list[Any], list[Any]]:
    """The entries and conditions of a run of ``method``, where the method fixes its relaxation:
    without ``relaxation``, without the settings conditioned on another relaxation, and with those
    conditioned on its own unconditional (unchanged for a method that takes any relaxation)."""
    from bohb_das.methods import METHODS

    fixed = METHODS[method].relaxation if method in METHODS else None
    if fixed is None:
        return entries, conditions
    on_relaxation = {c.get("child"): c.get("value") for c in conditions
                     if isinstance(c, dict) and c.get("parent") == "relaxation"}
    kept = [e for e in entries if not isinstance(e, dict) or
            (e.get("name") != "relaxation" and on_relaxation.get(e.get("name"), fixed) == fixed)]
    return kept, [c for c in conditions if not isinstance(c, dict) or c.get("parent") != "relaxation"]


def _decode(serialized: dict[str, Any], where: str) -> ConfigurationSpace:
    """ConfigSpace's own decoding (on a copy: its decoders consume their input), its errors made one line."""
    try:
        return ConfigurationSpace.from_serialized_dict(copy.deepcopy(serialized))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{where}: {message}") from None


def _check_range(entry: dict[str, Any], where: str) -> None:
    """Checks a numeric range where ConfigSpace's own message would not say what is wrong ("illegal
    settings", or a numpy error for YAML 1.1's reading of ``1e-5`` as text)."""
    if entry.get("type") not in ("uniform_float", "uniform_int"):
        return
    for key in ("lower", "upper", "default_value"):
        value = entry.get(key)
        if key in entry and (isinstance(value, bool) or not isinstance(value, (int, float))):
            hint = " (YAML reads 1e-5 without a dot as text: write 1.0e-5)" if isinstance(value, str) else ""
            raise ConfigError(f"{where}.{key}: expected a number, got {value!r}{hint}")
    lower, upper = entry.get("lower"), entry.get("upper")
    if lower is not None and upper is not None:
        if not lower < upper:
            raise ConfigError(f"{where}.lower: must be below upper ({lower!r} >= {upper!r})")
        if entry.get("log") and lower <= 0:
            raise ConfigError(f"{where}.lower: must be > 0 on a log scale, got {lower!r}")


def _methods(entry: dict[str, Any], where: str) -> set[str]:
    """The methods whose runs have this hyperparameter (``meta.methods``; every method if absent)."""
    from bohb_das.methods import METHODS

    meta = entry.get("meta") or {}
    if not isinstance(meta, dict) or "methods" not in meta:
        return set(METHODS)
    methods = meta["methods"] if isinstance(meta["methods"], list) else [meta["methods"]]
    wrong = [m for m in methods if m not in METHODS]
    if wrong or not methods:
        raise ConfigError(f"{where}: meta.methods: unknown method {wrong[0] if wrong else None!r} "
                          f"(known: {', '.join(METHODS)})")
    return set(methods)
