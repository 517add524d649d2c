"""``bohb-das plugins``: every registered name of every plugin kind, and the module that registered it."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plugins", help="list the registered problems, operations, spaces, updates, methods, relaxations, samplers, settings",
        description="Every name that --formation, --ops, --space, --method, --relaxation and --sampler accept, and every "
        "plugin setting, with the module that registered it: the built-ins and the modules of installed packages' bohb_das.plugins "
        "entry points (README: 'Plugins'). A plugin that fails to import is named in one line.",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bohb_das.bohb.samplers import SAMPLERS
    from bohb_das.hparams import setting_owners
    from bohb_das.methods import METHODS
    from bohb_das.operations import OP_SETS, OPERATIONS
    from bohb_das.problems import PROBLEMS
    from bohb_das.relaxations import RELAXATIONS
    from bohb_das.updates import UPDATES
    from bohb_das.search_spaces import SPACES
    from bohb_das.settings import SETTINGS, format_default

    for flag, registry in (("--formation", PROBLEMS), ("", OPERATIONS), ("--ops", OP_SETS), ("--space", SPACES),
                           ("", UPDATES), ("--method", METHODS), ("--relaxation", RELAXATIONS), ("--sampler", SAMPLERS)):
        print(f"{registry.kind}s" + (f" ({flag})" if flag else "") + ":")
        for name, module in registry.modules().items():
            detail = f" = {', '.join(OP_SETS[name])}" if registry is OP_SETS else ""
            print(f"  {name:<16} {module}{detail}")
    print("settings (--NAME, presets, BOHB spaces):")
    modules = SETTINGS.modules()
    for name, (owner, kind) in setting_owners().items():
        print(f"  {name:<16} {modules[owner]} ({owner}; default {format_default(kind, name)})")
    return 0
