"""Arguments and output helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bohb_das.hparams import HParams, hyperparameter_names, setting_owners
from bohb_das.profiles import DEFAULT_PROFILE
from bohb_das.settings import choices_of, format_default, value_type
from bohb_das.targets import Target

TARGET_NAMES = tuple(t.value for t in Target)


#: Where every flag that takes a registered name points for the full list.
NAMES_EPILOG = "`bohb-das plugins` lists every name that --formation, --ops, --space, --method and --relaxation accept."

PROFILE_HELP = ("experiment profile: the paper's open readings (blur units, noise, roll, loss reduction, PSNR peak, "
                f"residual form); a name in spaces/profiles (paper, spec-v1, ...) or a YAML file (default: {DEFAULT_PROFILE})")


def add_profile_argument(parser: argparse.ArgumentParser, help: str = PROFILE_HELP) -> None:
    parser.add_argument("--profile", default=None, metavar="NAME|FILE", help=help)


def add_problem_arguments(parser: argparse.ArgumentParser) -> None:
    """The experiment axes: profile, formation, operation set, search space, budget, width."""
    parser.epilog = NAMES_EPILOG
    add_profile_argument(parser)
    parser.add_argument("--formation", default="blur",
                        help="the problem (the paper's data formation): blur, downsampling, denoise (1-D signals), "
                        "deblur2d, superres2d, superres2d_x4, denoise2d (32x32 image patches) or a plugin's (default: blur)")
    parser.add_argument("--ops", default="all", help="operation set: good, all or a plugin's (default: all)")
    parser.add_argument("--space", default="sequential",
                        help="search space: sequential, cell, multiscale (CLEARER's; its own candidates, no --ops), "
                        "trilevel (Trilevel NAS's: operations, widths, exit) or a plugin's (default: sequential)")
    parser.add_argument("--width", type=int, default=32, help="channels C of the small conv nets (default: 32)")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="first seed; trial i uses seed+i (default: 0)")
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:N, or auto = CUDA when available (default: auto)"
    )


def add_hparam_arguments(parser: argparse.ArgumentParser) -> None:
    """``--hparams`` (a preset name or YAML path), then any single field overridden by a flag."""
    group = parser.add_argument_group("DAS hyperparameters (paper Table 7; flags override --hparams)")
    group.add_argument("--hparams", default="H1", help="preset name or YAML file (default: H1, paper Table 6)")
    group.add_argument("--weight-lr", type=float)
    group.add_argument("--weight-decay", type=float)
    group.add_argument("--weight-warmup", action=argparse.BooleanOptionalAction)
    group.add_argument("--alpha-lr", type=float)
    group.add_argument("--alpha-decay", type=float)
    group.add_argument("--alpha-warmup", action=argparse.BooleanOptionalAction)
    group.add_argument("--alpha-scheduler", help="none or linear")
    group.add_argument("--alpha-optimizer", help="adam or gd")
    beyond = parser.add_argument_group("beyond the paper: the relaxation, and the settings of relaxations and "
                                       "updates (each read by its owner; plugins add theirs)")
    beyond.add_argument("--relaxation", help="softmax (default), sparsemax, sparsestmax, sigmoid, gumbel, identity or a plugin's")
    for name, (owner, kind) in setting_owners().items():
        beyond.add_argument(f"--{name.replace('_', '-')}", type=value_type(kind, name), choices=choices_of(kind, name),
                            help=f"{owner}: {kind.__dataclass_fields__[name].metadata['help']} "
                            f"(default: {format_default(kind, name)})")


def hparams_from_args(args: argparse.Namespace) -> HParams:
    from bohb_das.hparams import load_preset

    base = load_preset(args.hparams)
    overrides = {name: getattr(args, name) for name in hyperparameter_names() if getattr(args, name, None) is not None}
    return HParams.from_mapping(overrides, defaults=base) if overrides else base


def write_output(output: Path | None, text: str) -> None:
    """``--output FILE`` (its folder made) or stdout."""
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    else:
        sys.stdout.write(text)
