"""Experiment profiles: the readings of the paper that it leaves open, as one frozen, validated type.

The paper does not pin down the blur width's units, the measurement noise (section 5.1 says 0.01,
Table 5 0.10), what "rolls the inputs in all dimensions" rolls, how the losses are reduced, the peak of
its PSNR or the residual branch's form. Each moves results by more than the spread between trials
(``../shared/notes/fidelity-study.md``), so each is a setting here. These are not DAS hyperparameters:
BOHB never tunes them, and a trial records the resolved profile it ran under.

Profiles ship as data in ``spaces/profiles/`` (``spec-v1``: the first reading, the numbers of every
trial made before profiles existed; ``paper``: the reading calibrated on the paper's Table 1 medians;
``paper-ascale8``, the default: ``paper`` recalibrated on all of Table 1, its failure tails included).
A profile file may name a ``base`` profile and override some of its settings. The field defaults
below are ``spec-v1``'s, so a record written before profiles existed reads as ``spec-v1``.

The later readings (``LATER``: the harmful operations' strength and what decides whether a search
fails, which the paper leaves to its supplementary material) default to what every trial computed
before they were settings, and a record names them only where they differ: the records and cache
keys of ``spec-v1`` and ``paper`` are unchanged. The cache key holds the profile's name, so a profile
keeps its name when it moves (``paper-ascale8`` was screened from ``results/profiles/``).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from bohb_das.datafiles import SPACES_DIR, names, read_mapping, resolve
from bohb_das.errors import ConfigError, is_integer, require_choice

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
#: The noise operation: a learnable gradient step plus noise (``step``), or the noise alone (``replace``).
NOISE_OP_FORMS = ("step", "replace")
#: BatchNorm's statistics in the alpha step and in the one-shot evaluation: the batch's own (train
#: mode; in the alpha step they also update the running ones, as DARTS' search does) or the running ones.
BN_MODES = ("batch", "running")
#: The learnable step size tau from its parameter rho: softplus(rho) > 0, rho itself (unbounded), or
#: tau_max * sigmoid(rho), bounded in (0, tau_max).
TAU_PARAMS = ("softplus", "identity", "sigmoid")

DEFAULT_PROFILE = "paper-ascale8"
BASE_PROFILE = "spec-v1"


#: What a setting can change (``enters``): every trial, the trials of a searching method (a supernet's
#: search and one-shot evaluation), or the trials whose operation set holds a harmful operation.
SCOPES = ("all", "search", "harmful")


def setting(default: Any, enters: str = "all") -> Any:
    """A profile setting that can change the trials ``enters`` says (``SCOPES``)."""
    return field(default=default, metadata={"enters": enters})


def later(default: Any, enters: str = "all") -> Any:
    """A setting added after records existed: named in a record only where it differs from ``default``."""
    return field(default=default, metadata={"enters": enters, "later": True})


@runtime_checkable
class ProfileReader(Protocol):
    """A part of a network that reads the profile once built (step sizes, BatchNorm momentum):
    ``training.build`` hands the profile to every such module."""

    def use_profile(self, profile: "Profile") -> None: ...


@dataclass(frozen=True)
class Profile:
    """``weight_loss`` reduces the weight steps' loss, ``alpha_loss`` the architecture objective's;
    the network's output is ``body + skip * u0`` with ``skip`` starting at ``skip_init``, learnable
    per trial or fixed."""

    name: str = BASE_PROFILE
    blur_units: str = setting("support")
    noise_std: float = setting(0.01)
    roll: str = setting("length", "harmful")
    weight_loss: str = setting("mean")
    alpha_loss: str = setting("mean", "search")
    psnr_peak: str = setting("range")
    skip_init: float = setting(1.0)
    skip_learnable: bool = setting(True)
    # The later readings: the harmful operations' strength ...
    noise_op_std: float = later(0.1, "harmful")  # the noise operation's N(0, std^2), in the signal's units (truth RMS ~1.2)
    noise_op_form: str = later("step", "harmful")
    roll_shift: int = later(1, "harmful")  # samples (and batch rows, with roll batch_length) the roll operation shifts by
    # ... and what decides whether a search or its supernet fails
    alpha_loss_scale: float = later(1.0, "search")  # multiplies the architecture objective (a continuum beside mean / sum)
    alpha_init_std: float = later(1e-3, "search")  # alpha ~ N(0, std^2) at the start, DARTS' 1e-3
    alpha_bn: str = later("batch", "search")  # BatchNorm in the alpha step (BN_MODES)
    one_shot_bn: str = later("running", "search")  # BatchNorm in the one-shot evaluation (BN_MODES)
    bn_momentum: float = later(0.1)  # of the running statistics, PyTorch's default
    tau_param: str = later("softplus")
    tau_init: float = later(0.5)
    tau_max: float = later(2.0)  # the bound of tau_param sigmoid: 2 / ||A^T A||, gradient descent's stability limit
    grad_clip: float = later(0.0)  # per-trial norm bound of the weight gradients (DARTS: 5); 0 = none

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"a profile's name must be a non-empty string, got {self.name!r}")
        for name, allowed in (("blur_units", BLUR_UNITS), ("roll", ROLLS), ("weight_loss", REDUCTIONS),
                              ("alpha_loss", REDUCTIONS), ("psnr_peak", PEAKS), ("noise_op_form", NOISE_OP_FORMS),
                              ("alpha_bn", BN_MODES), ("one_shot_bn", BN_MODES), ("tau_param", TAU_PARAMS)):
            require_choice(f"profile {name}", getattr(self, name), allowed)
        for name in ("noise_std", "skip_init", "noise_op_std", "alpha_init_std", "grad_clip"):
            self._number(name, lambda v: v >= 0, ">= 0")
        for name in ("alpha_loss_scale", "tau_max"):
            self._number(name, lambda v: v > 0, "> 0")
        self._number("bn_momentum", lambda v: 0 < v <= 1, "in (0, 1]")
        self._number("tau_init", lambda v: v > 0 or self.tau_param == "identity", "> 0 (except with tau_param identity)")
        if self.tau_param == "sigmoid" and self.tau_init >= self.tau_max:
            raise ConfigError(f"profile tau_init must be below tau_max ({self.tau_max:g}) with tau_param sigmoid, got {self.tau_init!r}")
        if not is_integer(self.roll_shift, 1):
            raise ConfigError(f"profile roll_shift must be a positive integer, got {self.roll_shift!r}")
        if not isinstance(self.skip_learnable, bool):
            raise ConfigError(f"profile skip_learnable must be true or false, got {self.skip_learnable!r}")

    def _number(self, name: str, valid: Callable[[float], bool], wanted: str) -> None:
        """Checks a float setting (ints are accepted and stored as floats)."""
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not valid(value):
            raise ConfigError(f"profile {name} must be a finite number {wanted}, got {value!r}")
        object.__setattr__(self, name, float(value))

    def roll_dims(self, signal_dims: int = 1) -> tuple[int, ...]:
        """The dimensions of a (trials, batch, *signal) tensor that the roll operation shifts: the
        signal's own (``length``), or those and the batch (``batch_length``)."""
        return tuple(range(-signal_dims - (self.roll == "batch_length"), 0))

    def reaches(self, other: "Profile", searches: bool, harmful: bool) -> bool:
        """Whether a setting in which ``other`` differs from this profile can change a trial of a method
        that searches (or not) over an operation set with a harmful operation (or not): where it cannot,
        the trial is the same under both profiles (``tests/test_readings.py``)."""
        scopes = {f.metadata["enters"] for f in fields(self) if f.name != "name" and getattr(self, f.name) != getattr(other, f.name)}
        return "all" in scopes or bool(searches and "search" in scopes) or bool(harmful and "harmful" in scopes)

    def settings(self) -> dict[str, Any]:
        """Every setting, without the name: what decides a trial's numbers."""
        return {k: v for k, v in self.to_dict().items() if k != "name"}

    def to_dict(self) -> dict[str, Any]:
        """Every setting, the ``LATER`` ones only where they differ from their defaults."""
        return {k: v for k, v in asdict(self).items() if k not in LATER or v != LATER[k]}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: "Profile | None" = None) -> "Profile":
        """Builds from (a subset of) the fields over ``base`` (default: spec-v1's values); unknown keys
        are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown profile setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return replace(base or cls(), **{k: v.item() if hasattr(v, "item") else v for k, v in values.items()})


#: The settings added after records existed, with their defaults: what every trial computed before.
LATER = {f.name: f.default for f in fields(Profile) if f.metadata.get("later")}

PROFILES_DIR = SPACES_DIR / "profiles"


def profile_names() -> list[str]:
    return names(PROFILES_DIR)


def load_profile(name_or_path: str | os.PathLike[str] | Profile | None = None) -> Profile:
    """A profile by name (``spaces/profiles/NAME.yaml``) or YAML path; None is the default profile.
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
