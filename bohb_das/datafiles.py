"""The YAML data files under the top-level ``spaces/`` (presets, profiles, BOHB spaces): found by name
or path, read with one-line errors that name the file. They are package data too (setup.cfg maps
``spaces/`` to ``bohb_das/spaces``), so that an installed (non-editable) copy has them, and a clone
reads them where a user looks: ``ConfigurationSpace.from_yaml("spaces/das.yaml")``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import platformdirs
import yaml

from bohb_das.errors import ConfigError

def _shipped() -> Path:
    """``bohb_das/spaces`` in an installed copy, else the source tree's top-level ``spaces/``."""
    package = Path(__file__).resolve().parent
    return package / "spaces" if (package / "spaces").is_dir() else package.parent / "spaces"


#: Where the shipped data files live; ``BOHB_DAS_SPACES`` points elsewhere (e.g. a shared filesystem).
SPACES_DIR = Path(os.environ.get("BOHB_DAS_SPACES") or _shipped())


def user_dir() -> Path:
    """The user's own data files (exported presets): never the package or source tree, which may be
    read-only or shared. ``BOHB_DAS_HOME`` overrides the platform's user data directory."""
    return Path(os.environ.get("BOHB_DAS_HOME") or platformdirs.user_data_dir("bohb-das"))


def names(*folders: Path) -> list[str]:
    return sorted({p.stem for folder in folders for p in folder.glob("*.yaml")})


def resolve(name_or_path: str | os.PathLike[str], folders: Path | Sequence[Path], kind: str) -> Path:
    """A path to an existing YAML file, or the name of one in ``folders`` (the first that has it);
    ``kind`` names it in errors."""
    folders = [folders] if isinstance(folders, Path) else list(folders)
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{kind} file {path} does not exist")
        return path
    for folder in folders:
        candidate = folder / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"unknown {kind} {str(name_or_path)!r} (known: {', '.join(names(*folders))})")


def read_yaml(path: Path) -> Any:
    """The parsed YAML of a file; invalid YAML is a one-line error naming the file."""
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """The mapping in a YAML file without its ``description``; ``what`` names its values in errors."""
    values = read_yaml(path)
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of {what}, got {type(values).__name__}")
    values.pop("description", None)
    return values
