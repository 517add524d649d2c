"""``bohb-das optimize | master | worker | compare | query``: the BOHB harness of ``bohb_das.bohb``."""

from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import Any, Callable

from bohb_das.cli.common import TARGET_NAMES, add_problem_arguments, add_profile_argument, add_run_arguments
from bohb_das.results import dumps


def register(subparsers: argparse._SubParsersAction) -> None:
    optimize = subparsers.add_parser(
        "optimize", help="BOHB on one machine: nameserver, master and local workers",
        description="Starts a nameserver on 127.0.0.1, a BOHB master and --workers local worker processes, "
        "writes the run directory, shows progress and prints the incumbent.",
    )
    _add_study_arguments(optimize)
    optimize.add_argument("--workers", type=int, default=2, help="local worker processes (default: 2)")
    add_slots_argument(optimize)
    optimize.set_defaults(handler=_optimize)

    master = subparsers.add_parser(
        "master", help="BOHB master for workers on other hosts (bohb-das worker)",
        description="Starts the nameserver and BOHB master; workers join with 'bohb-das worker --run-dir DIR' "
        "(shared filesystem) or '--nameserver HOST:PORT --secret-file FILE' (a copy of DIR/secret: only "
        "processes holding the run's secret can register or report).",
    )
    _add_study_arguments(master)
    master.add_argument("--host", default="127.0.0.1",
                        help="address workers reach this master at; the node's address for several hosts (default: 127.0.0.1)")
    master.add_argument("--port", type=int, default=0, help="nameserver port (default: a free one)")
    master.add_argument("--workers", type=int, default=0, help="local worker processes to start too (default: 0)")
    add_slots_argument(master)
    master.set_defaults(handler=_master)

    worker = subparsers.add_parser("worker", help="a BOHB worker that joins a running master",
                                   description="Evaluates configurations for a master until it shuts the worker "
                                   "down or disappears.")
    where = worker.add_mutually_exclusive_group(required=True)
    where.add_argument("--run-dir", type=Path, help="run directory of the master (shared filesystem)")
    where.add_argument("--nameserver", metavar="HOST:PORT", help="the master's nameserver address")
    worker.add_argument("--secret-file", type=Path,
                        help="the run's secret (a copy of RUN/secret, mode 0600; default: the run directory's)")
    worker.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the master's)")
    worker.add_argument("--host", help="this worker's address as seen by the master (default: the route to it)")
    worker.add_argument("--wait", type=float, default=300.0, help="seconds to wait for a live master (default: 300)")
    add_slots_argument(worker)
    add_profile_argument(worker, help="refuse to join a run whose profile has other settings than this one "
                         "(a name in spaces/profiles or a YAML file; default: accept the master's)")
    worker.set_defaults(handler=_worker)

    compare = subparsers.add_parser(
        "compare", help="samplers compared on one study: repetitions, anytime curves, final incumbents",
        description="Runs --repetitions runs of each of --samplers on the study the flags give (as optimize "
        "does), each in ROOT/SAMPLER-r (repetition r: the study's seed + 1000 r), in parts: finished runs are "
        "read, interrupted ones resumed, missing ones started. Then writes ROOT/compare.html: the incumbent "
        "PSNR against epochs trained and against wall time (median and range over the repetitions) and "
        "a table of the final incumbents.",
    )
    compare.add_argument("root", type=Path, metavar="ROOT", help="directory of the comparison's runs")
    compare.add_argument("--samplers", nargs="+", default=["bohb", "hyperband"],
                         help="samplers to compare (default: bohb hyperband)")
    compare.add_argument("--repetitions", type=int, default=5, help="runs per sampler (default: 5)")
    compare.add_argument("--page-only", action="store_true", help="write the page from the runs there, run nothing")
    _add_study_arguments(compare, where=False)
    compare.add_argument("--workers", type=int, default=2, help="local worker processes of each run (default: 2)")
    add_slots_argument(compare)
    compare.set_defaults(handler=_compare)

    query = subparsers.add_parser("query", help="incumbent and top-k configurations of a run directory",
                                  description="Incumbent (hpbandster's rule: best loss on the largest budget) "
                                  "and top-k configurations with loss per budget, both PSNRs and genotype.")
    query.add_argument("run_dir", type=Path, metavar="DIR")
    query.add_argument("--top", type=int, default=5, help="configurations to list (default: 5)")
    query.add_argument("--json", action="store_true", help="print JSON")
    query.add_argument("--export", metavar="NAME", help="save the incumbent as preset NAME (in the user's data directory, "
                       "$BOHB_DAS_HOME/presets if set; found by name like the shipped ones) or a .yaml path")
    query.add_argument("--overwrite", action="store_true", help="let --export replace an existing file")
    query.add_argument("--tolerate-damaged", action="store_true",
                       help="exit 0 even when lines of configs.json / results.json are unreadable (they are still reported)")
    query.set_defaults(handler=_query)


def add_slots_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--slots", type=int, default=1,
                        help="jobs a worker process takes at once; those of one budget train together in one "
                        "model (default: 1)")


def _add_study_arguments(parser: argparse.ArgumentParser, where: bool = True) -> None:
    if where:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--run-dir", type=Path, help="new run directory")
        group.add_argument("--resume", type=Path, metavar="DIR",
                           help="continue the run in DIR with its stored settings (the study flags are ignored)")
    add_problem_arguments(parser)
    parser.add_argument("--method", default="das",
                        help="search method: das, darts2, zarts_rs, zarts_mgs, zarts_gld, sparse_supernet, das_one_phase or a plugin's (default: das)")
    parser.add_argument("--relaxation", default="softmax",
                        help="relaxation of every evaluation, unless --hp-space tunes it (default: softmax)")
    parser.add_argument("--target", choices=TARGET_NAMES + ("final", "oneshot"), default="arch", metavar="{arch,one-shot}",
                        help="loss = -PSNR of the retrained architecture (the paper's final target) or of the one-shot "
                        "supernet (default: arch; the earlier spellings final and oneshot are read too)")
    parser.add_argument("--no-retrain", dest="retrain", action="store_false",
                        help="with --target one-shot: stop each evaluation after the search (no architecture PSNR)")
    parser.add_argument("--iterations", type=int, default=4, help="BOHB iterations (paper: 128) (default: 4)")
    parser.add_argument("--min-budget", type=float, default=50 / 9, help="smallest budget in epochs (default: 50/9)")
    parser.add_argument("--max-budget", type=float, default=50.0, help="largest budget in epochs (default: 50)")
    parser.add_argument("--eta", type=float, default=3.0, help="successive-halving factor (default: 3)")
    parser.add_argument("--seeds-per-eval", "--repeats", dest="repeats", type=int, default=1, metavar="R",
                        help="seeds per evaluation, batched in one model; all are kept in the run directory (default: 1)")
    parser.add_argument("--quantile", type=float, default=0.5,
                        help="loss = this quantile of the seeds' losses: 0.5 the median, higher more pessimistic (default: 0.5)")
    parser.add_argument("--hp-space", default="das",
                        help="hyperparameter space name (spaces/: das, beyond) or YAML file (default: das)")
    if where:  # compare takes several (--samplers)
        parser.add_argument("--sampler", default="bohb",
                            help="what proposes the configurations: bohb (its KDE), hyperband (random ones on the same "
                            "schedule), random-search (random ones at --max-budget only, one per iteration), tpe (Optuna's TPE) or a plugin's "
                            "(default: bohb)")
    add_run_arguments(parser)
    parser.add_argument("--ping-interval", type=int, default=10, help="seconds between worker checks (default: 10)")
    parser.add_argument("--comm-timeout", type=float, default=60.0,
                        help="seconds before an unresponsive worker is declared dead (default: 60)")
    parser.add_argument("--json", action="store_true", help="print the final summary as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true",
                        help="a line per finished job instead of the progress bar")


def _run(args: argparse.Namespace, launch: Callable[..., dict[str, Any]]) -> int:
    """Runs the study of ``args`` with ``launch`` (the library's ``optimize`` or ``run_master``)."""
    from bohb_das.bohb.query import format_report, nothing_succeeded
    from bohb_das.bohb.study import Study
    from bohb_das.errors import ConfigError
    from bohb_das.trial import resolve_device

    if args.slots < 1:
        raise ConfigError(f"--slots must be at least 1, got {args.slots}")
    if args.resume:
        from bohb_das.bohb.rundir import read_history, run_finished

        if run_finished(args.resume):
            print(f"bohb-das: {args.resume} ran all its iterations; nothing to resume (its summary follows)",
                  file=sys.stderr)
        for line in read_history(args.resume).damaged:  # kept as they are: a resume copies them to attempts/N
            print(f"bohb-das: warning: {line} (unreadable: its job runs again)", file=sys.stderr)
    study = None if args.resume else Study(**{f.name: getattr(args, f.name) for f in fields(Study)})
    report = launch(
        args.resume or args.run_dir, study, resume=bool(args.resume),
        device=str(resolve_device(args.device)), ping_interval=args.ping_interval,
        comm_timeout=args.comm_timeout,
        progress=None if args.quiet else _progress_printer() if args.verbose else _progress_bar(),
        worker_options={"slots": args.slots},
        command_line=["bohb-das", *sys.argv[1:]],
    )
    print(dumps(report) if args.json else format_report(report))
    if nothing_succeeded(report):
        print(f"bohb-das: error: every one of the {report['n_results']} evaluations crashed or failed; "
              f"see {report['run_dir']}/logs", file=sys.stderr)
        return 3
    return 0


def _optimize(args: argparse.Namespace) -> int:
    from bohb_das.bohb.master import optimize

    return _run(args, partial(optimize, n_workers=args.workers))


def _master(args: argparse.Namespace) -> int:
    from bohb_das.bohb.master import run_master

    return _run(args, partial(run_master, host=args.host, port=args.port, local_workers=args.workers))


def _compare(args: argparse.Namespace) -> int:
    from bohb_das.bohb.compare import run_comparison, write_comparison
    from bohb_das.bohb.master import optimize
    from bohb_das.bohb.study import Study
    from bohb_das.trial import resolve_device

    if not args.page_only:
        study = Study(**{f.name: getattr(args, f.name) for f in fields(Study) if f.name != "sampler"})
        launch = partial(optimize, n_workers=args.workers, device=str(resolve_device(args.device)),
                         ping_interval=args.ping_interval, comm_timeout=args.comm_timeout,
                         progress=None if args.quiet else _progress_printer() if args.verbose else _progress_bar(),
                         worker_options={"slots": args.slots}, command_line=["bohb-das", *sys.argv[1:]])
        run_comparison(args.root, study, args.samplers, args.repetitions, launch,
                       on_run=lambda run_dir, what: print(f"{run_dir}: {what}", file=sys.stderr, flush=True))
    print(write_comparison(args.root, args.samplers, args.repetitions))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from bohb_das.bohb.worker import run_worker

    device = None
    if args.device:
        from bohb_das.trial import resolve_device

        device = str(resolve_device(args.device))
    return run_worker(args.run_dir, args.nameserver, device=device, host=args.host, wait_s=args.wait,
                      profile=args.profile, slots=args.slots, secret_file=args.secret_file,
                      on_wait=lambda line: print(f"bohb-das worker: {line}", file=sys.stderr, flush=True))


def _query(args: argparse.Namespace) -> int:
    from bohb_das.bohb.query import export_incumbent, format_report, query
    from bohb_das.errors import ConfigError

    if args.top < 0:
        raise ConfigError(f"--top must be >= 0, got {args.top}")
    report = query(args.run_dir, top=args.top)
    print(dumps(report) if args.json else format_report(report))
    for line in report["damaged"]:
        print(f"bohb-das: warning: {line} (skipped)", file=sys.stderr)
    if report["damaged"] and not args.tolerate_damaged:
        raise ConfigError(f"{len(report['damaged'])} unreadable line(s) in {args.run_dir}; the report above leaves "
                          "them out (--tolerate-damaged to accept that)")
    if args.export:
        path = export_incumbent(args.run_dir, args.export, overwrite=args.overwrite)
        print(f"incumbent saved as preset {path}", file=sys.stderr)
    return 0


def _incumbent(p) -> str:
    best = p.incumbent
    return (f"incumbent loss {best['loss']:.4f} at budget {best['budget']:g}, config {tuple(best['config_id'])}"
            if best else "no incumbent yet")


def _progress_bar():
    """One live line: jobs finished of the schedule's total, elapsed and ETA (tqdm), the incumbent."""
    from tqdm import tqdm

    bar = None
    lock = threading.Lock()

    def show(p) -> None:
        nonlocal bar
        with lock:
            if bar is None:
                bar = tqdm(total=p.jobs_planned, unit="job", desc="BOHB", file=sys.stderr, dynamic_ncols=True)
            bar.n = p.jobs_done
            best = p.incumbent
            bar.set_postfix_str((f"incumbent {best['loss']:.4f} @ {best['budget']:g}" if best else "no incumbent")
                                + f", workers {p.workers}" + (f", re-queued {p.jobs_requeued}" if p.jobs_requeued else ""))
            if p.event == "done":
                bar.close()

    return show


def _progress_printer():
    lock = threading.Lock()

    def show(p) -> None:
        with lock:
            print(f"[{p.event}] iteration {p.iterations_started}/{p.iterations_total}, jobs done {p.jobs_done} "
                  f"of {p.jobs_planned} (replayed {p.jobs_replayed}, re-queued {p.jobs_requeued}), workers {p.workers}; "
                  f"{_incumbent(p)}", file=sys.stderr, flush=True)

    return show
