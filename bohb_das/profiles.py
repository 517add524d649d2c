"""Experiment profiles: the readings of the paper that it leaves open, as one frozen, validated type.

The paper does not pin down the blur width's units, the measurement noise (section 5.1 says 0.01,
Table 5 0.10), what "rolls the inputs in all dimensions" rolls, how the losses are reduced, the peak of
its PSNR or the residual branch's form. Each moves results by more than the spread between trials
(``../shared/notes/fidelity-study.md``), so each is a setting here. These are not DAS hyperparameters:
BOHB never tunes them, and a trial records the resolved profile it ran under.

Profiles ship as data in ``bohb_das/spaces/profiles/`` (``spec-v1``: the first reading, the numbers of every
trial made before profiles existed; ``paper``: the reading calibrated on the paper's Table 1, the
default). A profile file may name a ``base`` profile and override some of its settings. The field
defaults below are ``spec-v1``'s, so a record written before profiles existed reads as ``spec-v1``.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from bohb_das.datafiles import SPACES_DIR, names, read_mapping, resolve
from bohb_das.errors import ConfigError

#: Units of the blur's sigma: the kernel support scaled to [-1, 1], the signal domain w (taps spaced
#: like the grid, pi/49), or grid samples (taps 1 apart: sigma 0.2 makes the identity).
BLUR_UNITS = ("support", "domain", "samples")
#: ``length``: a one-sample circular shift along the signal; ``batch_length``: along the batch too,
#: so that each sample receives (a shift of) its neighbour's signal.
ROLLS = ("length", "batch_length")
#: The per-trial loss over a batch of signals: the mean or the sum of the squared errors.
REDUCTIONS = ("mean", "sum")
#: PSNR peak of a sample: max - min of its truth, max |truth|, 1, or max(truth).
PEAKS = ("range", "max_abs", "one", "max")

DEFAULT_PROFILE = "paper"
BASE_PROFILE = "spec-v1"


@dataclass(frozen=True)
class Profile:
    """``weight_loss`` reduces the weight steps' loss, ``alpha_loss`` the architecture objective's;
    the network's output is ``body + skip * u0`` with ``skip`` starting at ``skip_init``, learnable
    per trial or fixed."""

    name: str = BASE_PROFILE
    blur_units: str = "support"
    noise_std: float = 0.01
    roll: str = "length"
    weight_loss: str = "mean"
    alpha_loss: str = "mean"
    psnr_peak: str = "range"
    skip_init: float = 1.0
    skip_learnable: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"a profile's name must be a non-empty string, got {self.name!r}")
        for name, allowed in (("blur_units", BLUR_UNITS), ("roll", ROLLS), ("weight_loss", REDUCTIONS),
                              ("alpha_loss", REDUCTIONS), ("psnr_peak", PEAKS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"profile {name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("noise_std", "skip_init"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"profile {name} must be a finite number >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not isinstance(self.skip_learnable, bool):
            raise ConfigError(f"profile skip_learnable must be true or false, got {self.skip_learnable!r}")

    def roll_dims(self, signal_dims: int = 1) -> tuple[int, ...]:
        """The dimensions of a (trials, batch, *signal) tensor that the roll operation shifts: the
        signal's own (``length``), or those and the batch (``batch_length``)."""
        return tuple(range(-signal_dims - (self.roll == "batch_length"), 0))

    def settings(self) -> dict[str, Any]:
        """Every setting, without the name: what decides a trial's numbers."""
        return {k: v for k, v in asdict(self).items() if k != "name"}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: "Profile | None" = None) -> "Profile":
        """Builds from (a subset of) the fields over ``base`` (default: spec-v1's values); unknown keys
        are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown profile setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return replace(base or cls(), **{k: v.item() if hasattr(v, "item") else v for k, v in values.items()})


PROFILES_DIR = SPACES_DIR / "profiles"


def profile_names() -> list[str]:
    return names(PROFILES_DIR)


def load_profile(name_or_path: str | os.PathLike[str] | Profile | None = None) -> Profile:
    """A profile by name (``bohb_das/spaces/profiles/NAME.yaml``) or YAML path; None is the default profile.
    Errors name the file and the offending setting."""
    if isinstance(name_or_path, Profile):
        return name_or_path
    return _load_file(resolve(DEFAULT_PROFILE if name_or_path is None else name_or_path, PROFILES_DIR, "profile"), ())


def _load_file(path: Path, chain: tuple[Path, ...]) -> Profile:
    """``base`` is a profile name or a path relative to the file that names it."""
    path = path.resolve()
    if path in chain:
        raise ConfigError(f"{path}: profile bases form a cycle")
    return _parse(path, path.stat().st_mtime_ns, chain)


@functools.lru_cache(maxsize=64)
def _parse(path: Path, mtime_ns: int, chain: tuple[Path, ...]) -> Profile:
    """Cached by file and modification time: every TrialSpec loads its default profile."""
    values = read_mapping(path, "profile settings")
    base_name = values.pop("base", None)
    try:
        base = None
        if base_name is not None:
            base_path = Path(str(base_name))
            relative = base_path.suffix in (".yaml", ".yml") and not base_path.is_absolute()
            base_path = resolve(path.parent / base_path if relative else base_path, PROFILES_DIR, "profile")
            base = _load_file(base_path, chain + (path,))
        return Profile.from_mapping({"name": path.stem, **values}, base)
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(f"{path}:") else f"{path}: {message}") from None


def profile_of_record(spec: Mapping[str, Any]) -> Profile:
    """The profile of a trial record's ``spec``; records from before profiles existed are spec-v1."""
    values = spec.get("profile")
    if values is None:
        return Profile()
    if not isinstance(values, Mapping):
        raise ConfigError(f"a trial spec's profile is a mapping of settings, got {values!r}")
    return Profile.from_mapping(values)
