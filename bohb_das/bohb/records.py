"""Typed evaluation records: what one (configuration, budget) evaluation reports, read the same way by
the worker that makes it, the master that ranks it, and ``query`` / ``report`` that read it back
from the run directory.

On the wire and in ``results.json`` an evaluation stays hpbandster's result dict ``{"loss": float,
"info": {...}}`` (the format of every earlier run, so old runs still load and resume). ``to_result``
is the one place where a missing or non-finite loss becomes ``FAILED_LOSS`` and the info becomes
strict JSON; ``from_result`` reads any worker's dict, an earlier version's or a custom objective's,
keeping the info keys it does not know in ``extra``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from bohb_das.bohb.compat import FAILED_LOSS, finite_loss, json_safe


PSNRS = ("one_shot_psnr", "arch_psnr", "backprojection_psnr")


def _absent_as_none(record: Any) -> None:
    """A PSNR that was not measured (NaN in a trial result, null in JSON) is None in a record."""
    for name in PSNRS:
        value = getattr(record, name, None)
        if isinstance(value, float) and not math.isfinite(value):
            object.__setattr__(record, name, None)


@dataclass(frozen=True)
class SeedResult:
    """One seed of a seed-robust evaluation (``--seeds-per-eval``)."""

    seed: int
    status: str
    reason: str | None
    one_shot_psnr: float | None
    arch_psnr: float | None

    def __post_init__(self) -> None:
        _absent_as_none(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SeedResult":
        return cls(**{f.name: values.get(f.name) for f in fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class EvaluationInfo:
    """The ``info`` of a result, in its JSON order. ``status``: ok, partial (some seeds failed) or
    failed; the PSNRs are medians over the seeds that finished (None where none did or the target
    has none); ``genotype`` is the representative seed's (the one at the loss quantile)."""

    target: str | None = None
    quantile: float | None = None
    status: str | None = None
    reason: str | None = None
    one_shot_psnr: float | None = None
    arch_psnr: float | None = None
    backprojection_psnr: float | None = None
    genotype: dict[str, Any] | None = None
    seconds: float | None = None
    device: str | None = None
    trials: tuple[SeedResult, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # a custom objective's own keys

    def __post_init__(self) -> None:
        _absent_as_none(self)

    @classmethod
    def from_dict(cls, info: Any) -> "EvaluationInfo":
        info = info if isinstance(info, dict) else {}
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {name: info[name] for name in known if name in info}
        values["trials"] = tuple(SeedResult.from_dict(t) for t in info.get("trials") or () if isinstance(t, dict))
        return cls(**values, extra={k: v for k, v in info.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        info = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        info["trials"] = [t.to_dict() for t in self.trials]
        return {**info, **self.extra}


@dataclass(frozen=True)
class Evaluation:
    """A finished evaluation: the loss BOHB ranks (-PSNR of the target; ``FAILED_LOSS`` when it
    failed) and what it measured."""

    loss: float
    info: EvaluationInfo = field(default_factory=EvaluationInfo)

    @property
    def failed(self) -> bool:
        return self.loss >= FAILED_LOSS

    @classmethod
    def from_result(cls, result: Any) -> "Evaluation":
        """Any worker's result dict; anything but a dict is refused (hpbandster records the job as
        crashed with this message)."""
        if not isinstance(result, dict):
            raise TypeError(f"worker returned {type(result).__name__}, not a dict")
        return cls(finite_loss(result.get("loss")), EvaluationInfo.from_dict(result.get("info")))

    def to_result(self) -> dict[str, Any]:
        return {"loss": finite_loss(self.loss), "info": json_safe(self.info.to_dict())}
