"""Statistics over trials: what the paper's tables and figures report.

Trial records are read from ``TrialResult.to_dict()`` or its JSON (``bohb-das trial --json`` /
``--output`` lines, the cache) into ``TrialRecord``s: the record's fields, typed, and the labels it
is grouped by. Records are grouped by (method, hyperparameter set, formation, ops, space,
profile, scale = epochs and width), so that trials of another scale are never pooled; each
group gets max / mean / median of both PSNRs (paper Tables 1-4), the failed count, the mean time,
the one-shot vs architecture correlation with a seeded bootstrap interval (Figures 3-4) and, for
DAS, how many random-search steps it takes on average to beat its median (paper 5.2).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import statistics
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from bohb_das.errors import ConfigError

GROUP_KEYS = ("method", "hparams_name", "formation", "ops", "space", "profile", "scale")
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


def summarize(values: Iterable[float]) -> dict[str, float | int]:
    """Max, mean and median of the finite values; ``n`` counts them, ``failed`` the others."""
    values = list(values)
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"n": 0, "failed": len(values), "max": math.nan, "mean": math.nan, "median": math.nan}
    return {
        "n": len(finite),
        "failed": len(values) - len(finite),
        "max": max(finite),
        "mean": statistics.fmean(finite),
        "median": statistics.median(finite),
    }


def column(trials: Iterable[Any], key: str) -> list[float]:
    """A PSNR (or other number) per trial (``TrialRecord`` or ``TrialResult``)."""
    return [float(getattr(t, key)) for t in trials]


def trial_summary(trials: Iterable[Any]) -> dict[str, dict[str, float | int]]:
    """Summaries of both targets over trials (``TrialRecord`` or ``TrialResult``)."""
    trials = list(trials)
    return {"one_shot_psnr": summarize(column(trials, "one_shot_psnr")), "arch_psnr": summarize(column(trials, "arch_psnr"))}


# --- records: strict JSON lines in, labelled records out -----------------------------------------


def json_ready(value: Any) -> Any:
    """Strict JSON: non-finite floats become null (a failed trial's PSNR is NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(json_ready(value), allow_nan=False)


REQUIRED = ("seed", "status", "one_shot_psnr", "arch_psnr", "seconds", "spec")


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial as the statistics read it. The fields of its JSON record (an absent PSNR,
    JSON null, as NaN; ``backprojection_psnr`` NaN in records that predate it; ``spec`` as written),
    then the labels it is grouped by (``label``)."""

    seed: int
    status: str  # "ok" | "failed"
    reason: str | None
    one_shot_psnr: float
    arch_psnr: float
    seconds: float
    backprojection_psnr: float
    genotype: dict[str, Any] | None
    alphas: list[Any]
    device: str | None
    spec: dict[str, Any]
    hparams_name: str
    method: str  # the method, or method:relaxation (``method_variant``)
    formation: str
    ops: str
    space: str
    profile: str  # the profile's name
    scale: str  # ``scale_label``

    def to_json(self) -> dict[str, Any]:
        """The trial record (with its ``hparams_name``, which ``label`` reads back)."""
        out = asdict(self)
        for key in ("method", "formation", "ops", "space", "profile", "scale"):
            del out[key]
        return out


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def parse_record(line: str, where: str) -> dict[str, Any]:
    """One trial record from a JSON line; anything else is a ConfigError naming ``where``."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not a JSON trial record ({exc.msg})") from None
    if not isinstance(record, dict) or any(key not in record for key in REQUIRED) or not isinstance(record["spec"], dict):
        raise ConfigError(f"{where}: a trial record needs the fields {', '.join(REQUIRED)}")
    return record


def load_trials(paths: Sequence[str | Path]) -> list[TrialRecord]:
    """The records of JSON-lines files (``bohb-das trial --output`` / ``--json``), labelled."""
    records = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"trial file {path} does not exist")
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                records.append(label(parse_record(line, f"{path}:{number}")))
    if not records:
        raise ConfigError(f"no trial records in {', '.join(map(str, paths))}")
    return records


@functools.lru_cache(maxsize=1)
def _presets_by_value() -> dict[Any, str]:
    from bohb_das.hparams import load_preset, preset_names

    return {load_preset(name): name for name in reversed(preset_names())}  # first name wins on ties


def hparams_label(hparams: Mapping[str, Any]) -> str:
    """The shipped preset with exactly these values, else ``custom-<hash>``: a record stores the
    values, not the name they were given."""
    from bohb_das.hparams import HParams

    values = HParams.from_mapping(hparams)
    if values in _presets_by_value():
        return _presets_by_value()[values]
    digest = hashlib.sha1(json.dumps(values.to_dict(), sort_keys=True).encode()).hexdigest()[:6]
    return f"custom-{digest}"


def method_variant(spec: Mapping[str, Any]) -> str:
    """A table row's method: ``method``, or ``method:relaxation`` where the relaxation is not softmax."""
    relaxation = spec.get("hparams", {}).get("relaxation", "softmax")
    return spec["method"] if relaxation == "softmax" else f"{spec['method']}:{relaxation}"


def label(record: Mapping[str, Any], hparams_name: str | None = None) -> TrialRecord:
    """The typed record of a JSON trial record, labelled (``hparams_name`` given or looked up; the
    relaxation shows in ``method``, not in the hyperparameter set's name; a record without a profile
    predates profiles and is spec-v1's)."""
    from bohb_das.profiles import profile_of_record

    spec = record["spec"]
    hparams = {k: v for k, v in spec.get("hparams", {}).items() if k != "relaxation"}
    return TrialRecord(
        seed=int(record["seed"]), status=record["status"], reason=record.get("reason"),
        one_shot_psnr=_number(record["one_shot_psnr"]), arch_psnr=_number(record["arch_psnr"]),
        seconds=float(record["seconds"]), backprojection_psnr=_number(record.get("backprojection_psnr")),
        genotype=record.get("genotype"), alphas=record.get("alphas", []), device=record.get("device"), spec=spec,
        hparams_name=hparams_name or record.get("hparams_name") or hparams_label(hparams),
        method=method_variant(spec), formation=spec.get("formation"), ops=spec.get("ops"), space=spec.get("space"),
        profile=profile_of_record(spec).name, scale=scale_label(spec),
    )


def scale_label(spec: Mapping[str, Any]) -> str:
    """``"50 epochs, width 32"``: the budget and width of a trial spec."""
    return f"{spec.get('epochs')} epochs, width {spec.get('width')}"


# --- statistics ----------------------------------------------------------------------------------


def correlation(x: Sequence[float], y: Sequence[float], seed: int = 0,
                resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = CONFIDENCE) -> dict[str, float]:
    """Pearson r and Spearman rho (scipy.stats) of the finite pairs, each with a percentile
    bootstrap interval over ``resamples`` paired resamples (``scipy.stats.bootstrap``, seeded). NaN
    where undefined (fewer than 3 pairs, a constant side); the interval is NaN where a resample has a
    constant side (likely only below about 6 pairs, or with tied PSNRs).

    Percentile rather than scipy's default BCa: BCa is undefined (NaN) when every resample gives
    the same value, e.g. r = 1 for exactly linear pairs, where the percentile interval is [1, 1]."""
    import numpy as np
    from scipy import stats

    pairs = np.array([(a, b) for a, b in zip(x, y) if math.isfinite(a) and math.isfinite(b)], dtype=float).reshape(-1, 2)
    out = {f"{name}{suffix}": math.nan for name in ("pearson", "spearman") for suffix in ("", "_low", "_high")}
    if len(pairs) < 3 or np.ptp(pairs[:, 0]) == 0 or np.ptp(pairs[:, 1]) == 0:
        return out
    out["pearson"] = float(stats.pearsonr(pairs[:, 0], pairs[:, 1])[0])
    out["spearman"] = float(stats.spearmanr(pairs[:, 0], pairs[:, 1])[0])
    for name, statistic in (("pearson", _pearson), ("spearman", _spearman)):
        with warnings.catch_warnings():  # scipy warns about BCa when all resamples agree, even for percentile
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            interval = stats.bootstrap((pairs[:, 0], pairs[:, 1]), statistic, paired=True, vectorized=True,
                                       n_resamples=resamples, confidence_level=confidence, method="percentile",
                                       random_state=np.random.default_rng(seed)).confidence_interval
        out[f"{name}_low"], out[f"{name}_high"] = float(interval.low), float(interval.high)
    return out


def _pearson(u: Any, v: Any, axis: int = -1) -> Any:
    """Pearson r along ``axis`` of two arrays, for every other index at once; NaN for a constant side."""
    import numpy as np

    u = u - u.mean(axis, keepdims=True)
    v = v - v.mean(axis, keepdims=True)
    norm = np.sqrt((u * u).sum(axis) * (v * v).sum(axis))
    return np.where(norm > 0, (u * v).sum(axis) / np.where(norm > 0, norm, 1.0), np.nan)


def _spearman(u: Any, v: Any, axis: int = -1) -> Any:
    """Spearman's rho along ``axis``: Pearson r of the ranks (ties get their mean rank, as in scipy)."""
    from scipy import stats

    return _pearson(stats.rankdata(u, axis=axis), stats.rankdata(v, axis=axis), axis)


def steps_to_beat(random_arch_psnr: Sequence[float], target: float) -> float:
    """Expected random-search steps until one random architecture beats ``target`` (paper 5.2).

    Each step trains one fresh random architecture, a success with probability p, estimated as the
    share of the random trials above the target (a failed trial is a step without success); the
    steps until the first success are geometric with mean 1/p. Inf when none beat it."""
    values = list(random_arch_psnr)
    wins = sum(1 for v in values if math.isfinite(v) and v > target)
    if not values or not math.isfinite(target):
        return math.nan
    return len(values) / wins if wins else math.inf


def group_key(record: TrialRecord) -> tuple:
    return tuple(getattr(record, key) for key in GROUP_KEYS)


def group_statistics(records: Iterable[TrialRecord], seed: int = 0) -> list[dict[str, Any]]:
    """One row of statistics per (method, hparams_name, formation, ops, space, profile, scale), in
    first-seen order.

    DAS-like rows (``das``, ``das_single``) also get ``random_steps_to_beat_median``: computed from
    the ``random`` trials of the same hyperparameters, formation, ops, space, profile and scale, when
    present.
    """
    groups: dict[tuple, list[TrialRecord]] = {}
    for record in records:
        groups.setdefault(group_key(record), []).append(record)
    rows = []
    for key, trials in groups.items():
        arch, one_shot = column(trials, "arch_psnr"), column(trials, "one_shot_psnr")
        row: dict[str, Any] = dict(zip(GROUP_KEYS, key))
        row["trials"] = len(trials)
        row["failed"] = sum(t.status != "ok" for t in trials)
        for prefix, values in (("arch", arch), ("one_shot", one_shot)):
            summary = summarize(values)
            row.update({f"{prefix}_{stat}": summary[stat] for stat in ("max", "mean", "median")})
        row["seconds"] = statistics.fmean(column(trials, "seconds"))
        row["backprojection_psnr"] = trials[0].backprojection_psnr
        row.update(correlation(one_shot, arch, seed=seed))
        row["random_steps_to_beat_median"] = math.nan
        random_trials = groups.get(("random",) + key[1:])
        if key[0] in ("das", "das_single") and random_trials:
            row["random_steps_to_beat_median"] = steps_to_beat(column(random_trials, "arch_psnr"), row["arch_median"])
        rows.append(row)
    return rows
