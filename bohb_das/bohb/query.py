"""Reading a run directory: incumbent, top-k configurations, and the incumbent as a preset.

The incumbent follows hpbandster's own rule (``Result.get_incumbent_id``): the lowest loss among
results on the largest logged budget, ties broken by config id, so this and
``logged_results_to_HBS_result(run_dir)`` always name the same configuration.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from bohb_das.bohb.compat import FAILED_LOSS
from bohb_das.bohb.records import EvaluationInfo
from bohb_das.bohb.rundir import MANIFEST, ConfigId, Logs, ledger, read_logs, read_manifest
from bohb_das.bohb.study import Study
from bohb_das.errors import ConfigError
from bohb_das.hparams import load_preset, user_presets_dir
from bohb_das.profiles import profile_of_record


def incumbent_id(logs: Logs) -> ConfigId | None:
    budgets = {budget for _, budget in logs.results}
    if not budgets:
        return None
    largest = max(budgets)
    candidates = [(e.evaluation.loss, cid) for (cid, b), e in logs.results.items() if b == largest and e.finished]
    return min(candidates)[1] if candidates else None


def _entry(logs: Logs, config_id: ConfigId) -> dict[str, Any]:
    logged = logs.configs.get(config_id)
    runs = sorted((b, e) for (cid, b), e in logs.results.items() if cid == config_id)
    finished = [(b, e.evaluation) for b, e in runs if e.finished]
    budget, best = finished[-1] if finished else (None, None)
    info = best.info if best is not None else EvaluationInfo()
    return {
        "config_id": list(config_id),
        "config": logged.config if logged else None,
        "model_based_pick": bool(logged.info.get("model_based_pick")) if logged else None,
        "losses": {str(b): (e.evaluation.loss if e.finished else None) for b, e in runs},
        "budget": budget,
        "loss": best.loss if best is not None else None,
        "status": info.status,
        "one_shot_psnr": info.one_shot_psnr,
        "arch_psnr": info.arch_psnr,
        "genotype": info.genotype,
        "seeds": [t.to_dict() for t in info.trials],  # every seed of a seed-robust evaluation (--seeds-per-eval)
    }


def query(run_dir: str | os.PathLike[str], top: int = 5) -> dict[str, Any]:
    """A JSON-ready summary of a run directory (finished or still running)."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir) if (run_dir / MANIFEST).is_file() else {}
    logs = read_logs(run_dir)
    if not logs.configs and not (run_dir / MANIFEST).is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no {MANIFEST}, no configs.json)")
    evaluated = {cid for cid, _ in logs.results}
    ranked = sorted(
        (_entry(logs, cid) for cid in evaluated),
        key=lambda e: (e["budget"] is None, -(e["budget"] or 0.0), e["loss"] if e["loss"] is not None else 0.0, e["config_id"]),
    )
    best = incumbent_id(logs)
    incumbent = _entry(logs, best) if best is not None else None
    if incumbent is not None and incumbent["config"] is not None:  # what a trial of it runs with
        incumbent["hparams"] = Study.from_mapping(manifest).hparams(incumbent["config"]).to_dict()
    return {
        "run_dir": str(run_dir),
        "profile": profile_of_record(manifest).name if manifest else None,
        "formation": manifest.get("formation"),
        "ops": manifest.get("ops"),
        "space": manifest.get("space"),
        "target": manifest.get("target"),
        "method": manifest.get("method"),
        "sampler": manifest.get("sampler", "bohb"),
        "seeds_per_eval": manifest.get("repeats"),
        "quantile": manifest.get("quantile", 0.5),
        "budgets": manifest.get("budgets"),
        "n_configs": len(logs.configs),
        "n_results": len(logs.results),
        "n_crashed": sum(not e.finished for e in logs.results.values()),
        "n_failed": sum(e.finished and e.evaluation.failed for e in logs.results.values()),
        "model_based_picks": sum(bool(c.info.get("model_based_pick")) for c in logs.configs.values()),
        **asdict(ledger(run_dir, manifest)),
        "damaged": logs.damaged,
        "incumbent": incumbent,
        "top": ranked[: max(top, 0)],
    }


def export_incumbent(run_dir: str | os.PathLike[str], name_or_path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Writes the incumbent as a preset YAML: NAME in the user's presets (``hparams.user_presets_dir``),
    or the given path."""
    report = query(run_dir, top=0)
    incumbent = report["incumbent"]
    if incumbent is None:
        raise ConfigError(f"{run_dir}: no finished result on the largest budget yet; nothing to export")
    if incumbent["loss"] >= FAILED_LOSS:
        raise ConfigError(f"{run_dir}: the incumbent's evaluation failed (loss {incumbent['loss']:g}); nothing to export")
    text = str(name_or_path)
    path = Path(text) if text.endswith((".yaml", ".yml")) or os.sep in text else user_presets_dir() / f"{text}.yaml"
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} already exists; choose another name")
    values = incumbent["hparams"]
    description = (f"BOHB incumbent of {Path(run_dir)} (config {tuple(incumbent['config_id'])}, "
                   f"budget {incumbent['budget']:g}, loss {incumbent['loss']:.4f}, target {report['target']}), "
                   f"exported {time.strftime('%Y-%m-%d %H:%M')}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"description": description, **values}, sort_keys=False))
    load_preset(path)  # what was written must load
    return path


def nothing_succeeded(report: dict[str, Any]) -> bool:
    """Every result of a run that has results crashed or failed: the run found nothing."""
    return report["n_results"] > 0 and report["n_crashed"] + report["n_failed"] == report["n_results"]


def describe_ledger(report: dict[str, Any]) -> str:
    """The ledger of :func:`query`'s summary in one sentence (``query`` and the report page)."""
    return (f"{report['attempts']} attempt(s), {report['wall_s'] / 3600:.2f} h ({report['wall_s']:.0f} s) of wall time; "
            f"results lost on resume: {report['lost']}, duplicated: {report['duplicated']}")


def format_report(report: dict[str, Any]) -> str:
    """The human-readable form of :func:`query`'s summary."""
    lines = [
        f"run {report['run_dir']}: {report['method']} on {report['formation']}/{report['ops']}/{report['space']} "
        f"(profile {report['profile']}), "
        f"target {report['target']}, sampler {report['sampler']}, {report['seeds_per_eval']} seed(s) per evaluation, "
        f"{report['n_configs']} configs, {report['n_results']} results ({report['n_crashed']} crashed, "
        f"{report['n_failed']} failed), "
        f"{report['model_based_picks']} model-based picks",
        describe_ledger(report),
    ]

    def describe(entry: dict[str, Any]) -> list[str]:
        losses = ", ".join(f"{float(b):g}: {'crashed' if v is None else f'{v:.4f}'}" for b, v in entry["losses"].items())
        psnr = lambda v: "n/a" if v is None else f"{v:.2f} dB"  # noqa: E731
        seeds = [f"{t['seed']}: {psnr(t['one_shot_psnr'])} / {psnr(t['arch_psnr'])}" for t in entry["seeds"]]
        return [
            f"  config {tuple(entry['config_id'])}  loss per budget {{{losses}}}",
            f"    one-shot PSNR {psnr(entry['one_shot_psnr'])}, architecture PSNR {psnr(entry['arch_psnr'])}, "
            f"status {entry['status']}",
            *([f"    per seed (one-shot / architecture): {'; '.join(seeds)}"] if len(seeds) > 1 else []),
            f"    hparams {entry['config']}",
            f"    genotype {entry['genotype']}",
        ]

    lines.append("incumbent:" if report["incumbent"] else "incumbent: none yet (no result on the largest budget)")
    if report["incumbent"]:
        lines += describe(report["incumbent"])
    if report["top"]:
        lines.append(f"top {len(report['top'])} (largest budget first, then loss):")
        for entry in report["top"]:
            lines += describe(entry)
    return "\n".join(lines)
