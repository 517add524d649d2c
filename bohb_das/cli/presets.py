"""``bohb-das presets``: the hyperparameter presets there are, or given sets side by side (Table 7)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "presets", help="list the hyperparameter presets, or show sets side by side (paper Tables 6-8)",
        description="Without names: every preset --hparams accepts by name, the user's exported ones (bohb-das query "
        "--export) first, with its description. With names (presets, YAML files or BOHB run directories): their "
        "hyperparameters side by side, one column per set; a run directory's column is its incumbent, with the "
        "run's target and the incumbent's budget and loss.",
    )
    parser.add_argument("sets", nargs="*", metavar="H", help="preset names, YAML files or BOHB run directories")
    parser.add_argument("--format", choices=("markdown", "csv", "latex"), default="markdown", help="(default: markdown)")
    parser.add_argument("--output", type=Path, help="write the table to this file instead of stdout")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bohb_das.cli.common import write_output
    from bohb_das.cli.table import resolve_hparams
    from bohb_das.errors import ConfigError
    from bohb_das.tables import hparams_table, render

    if not args.sets:
        return _list()
    sets, about = {}, {}
    for text in args.sets:
        label, hparams = resolve_hparams(text)
        if label in sets:
            raise ConfigError(f"two sets are named {label!r}; give one of them as a path with another name")
        sets[label] = hparams
        if Path(text).is_dir():
            about[label] = _incumbent_facts(Path(text))
    write_output(args.output, render(hparams_table(sets, about), args.format))
    return 0


def _incumbent_facts(run_dir: Path) -> dict[str, Any]:
    from bohb_das.bohb.query import query  # hpbandster stays out of the science modules

    report = query(run_dir, top=0)
    incumbent = report["incumbent"]
    return {"BOHB target": report["target"], "sampler": report["sampler"],
            "configs / results": f"{report['n_configs']} / {report['n_results']}",
            "incumbent budget (epochs)": incumbent["budget"], "incumbent loss": incumbent["loss"],
            "incumbent one-shot PSNR": incumbent["one_shot_psnr"], "incumbent arch PSNR": incumbent["arch_psnr"]}


def _list() -> int:
    from bohb_das.datafiles import read_yaml
    from bohb_das.hparams import preset_names, resolve_preset_path, user_presets_dir

    users = user_presets_dir()
    print(f"presets (--hparams NAME; yours in {users} first):")
    for name in preset_names():
        path = resolve_preset_path(name)
        data = read_yaml(path)
        description = data.get("description", "") if isinstance(data, dict) else ""
        origin = "yours" if path.parent == users else "shipped"
        print(f"  {name:<28} {origin:<8} {' '.join(str(description).split())}")
    return 0
