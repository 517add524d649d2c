"""``bohb-das trial``: N trials of one method and hyperparameter set, as a table or JSON lines."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from bohb_das.cli.common import (
    add_hparam_arguments,
    add_problem_arguments,
    add_run_arguments,
    hparams_from_args,
)
from bohb_das.results import dumps

if TYPE_CHECKING:
    from bohb_das.trial import TrialResult


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "trial",
        help="run DAS trials (search, argmax architecture, retrain) and report both PSNRs",
        description="Runs N trials batched in one model: DAS search, argmax architecture, retraining "
        "from scratch; reports one-shot and architecture validation PSNR per trial and a summary.",
    )
    add_problem_arguments(parser)
    parser.add_argument("--method", default="das",
                        help="das, das_single, gd_only, nets_only, random, random_search, or beyond the paper "
                        "darts2, zarts_rs, zarts_mgs, zarts_gld, sparse_supernet, das_one_phase, or a plugin's (default: das)")
    parser.add_argument("--k", type=int, help="random_search: random architectures per trial (default: 5)")
    parser.add_argument("--epochs", type=int, default=50, help="search epochs; retraining uses as many (default: 50)")
    parser.add_argument("--trials", type=int, default=1, help="number of trials (seeds) (default: 1)")
    parser.add_argument("--batch", type=int, default=0, help="trials per batched model; 0 = all at once (default)")
    add_run_arguments(parser)
    add_hparam_arguments(parser)
    parser.add_argument("--no-retrain", dest="retrain", action="store_false",
                        help="stop after the search: one-shot PSNR only, no architecture PSNR")
    parser.add_argument("--json", action="store_true", help="print one JSON object per trial instead of a table")
    parser.add_argument("--output", type=Path, help="also append each trial as a JSON line to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bohb_das.errors import ConfigError
    from bohb_das.experiment import Experiment
    from bohb_das.trial import METHODS, TrialSpec, resolve_device, run_trials

    spec = TrialSpec(**{f.name: getattr(args, f.name) for f in fields(Experiment)},
                     epochs=args.epochs, hparams=hparams_from_args(args), k=args.k)
    if args.trials < 1 or args.batch < 0:
        raise ConfigError("--trials must be >= 1 and --batch >= 0")
    device = str(resolve_device(args.device))
    seeds = list(range(args.seed, args.seed + args.trials))
    size = args.batch or len(seeds)
    batches = [seeds[i : i + size] for i in range(0, len(seeds), size)]
    finished = []
    passes = METHODS[spec.method].passes - (not spec.retrain)
    bar = tqdm(total=len(batches) * passes * args.epochs, unit="epoch", disable=args.quiet,
               file=sys.stderr, desc="trials")
    for batch in batches:
        bar.set_postfix_str(f"seeds {batch[0]}..{batch[-1]}")
        results = run_trials(spec, batch, device, progress=lambda phase, done, total: bar.update(1))
        for result in results:
            record = result.to_dict()
            finished.append(result)
            if args.output:
                with args.output.open("a") as f:
                    f.write(dumps(record) + "\n")
            if args.json:
                print(dumps(record), flush=True)
    bar.close()
    if not args.json:
        print_table(finished)
    failed = [r for r in finished if r.status != "ok"]
    if failed:
        print(f"bohb-das: error: {len(failed)} of {len(finished)} trials failed (seed {failed[0].seed}: "
              f"{failed[0].reason})", file=sys.stderr)
        return 3
    return 0


def print_table(results: "list[TrialResult]") -> None:
    from bohb_das.results import trial_summary
    from bohb_das.search_spaces import Genotype
    from bohb_das.trial import METHODS

    print(f"{'seed':>5}  {'status':<6}  {'one-shot':>8}  {'arch':>7}  {'sec':>6}  genotype")
    for r in results:
        genotype = str(Genotype.from_json(r.genotype)) if r.genotype else r.reason
        print(f"{r.seed:>5}  {r.status:<6}  {r.one_shot_psnr:>8.2f}  {r.arch_psnr:>7.2f}  {r.seconds:>6.1f}  {genotype}")
    summary = trial_summary(results)
    spec = results[0].spec
    print(f"\nPSNR over {len(results)} trials, profile {spec.profile.name} "
          f"(back-projection floor {results[0].backprojection_psnr:.2f} dB):")
    for key, label in (("one_shot_psnr", "one-shot"), ("arch_psnr", "architecture")):
        s = summary[key]
        if key == "one_shot_psnr" and not METHODS[spec.method].one_shot:
            print(f"  {label:<13} not defined for {spec.method} (no supernet)")
            continue
        if key == "arch_psnr" and not spec.retrain:
            print(f"  {label:<13} not computed (--no-retrain)")
            continue
        print(f"  {label:<13} max {s['max']:6.2f}  mean {s['mean']:6.2f}  median {s['median']:6.2f}  failed {s['failed']}")
