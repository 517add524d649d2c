"""The bohb subcommands: bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import pytest

import bohb_das.cli as cli


@pytest.fixture
def main(monkeypatch):
    if "bohb" not in cli.SUBCOMMAND_MODULES:
        monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", (*cli.SUBCOMMAND_MODULES, "bohb"))
    return cli.main


def test_malformed_space_file_is_exit_code_2_naming_file_and_field(main, tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("hyperparameters: [{name: weight_lr, type: uniform_float, lower: 2, upper: 1}]\n")
    assert main(["optimize", "--run-dir", str(tmp_path / "run"), "--hp-space", str(space), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(space) in err and "(weight_lr).lower" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, message", [
    (["query", "/nonexistent/run"], "not a run directory"),
    (["query", "/nonexistent/run", "--top", "-1"], "--top must be >= 0"),
    (["plot", "scatter", "--output", "/nonexistent/dir/x.png"], "directory /nonexistent/dir does not exist"),
    (["worker", "--nameserver", "no-port"], "HOST:PORT"),
    (["optimize", "--run-dir", "R", "--target", "final", "--min-budget", "0.2", "--device", "cpu"], "min-budget"),
    (["optimize", "--run-dir", "R", "--formation", "nope", "--device", "cpu"], "nope"),
    (["optimize", "--run-dir", "R", "--slots", "0", "--device", "cpu"], "--slots must be at least 1"),
    (["optimize", "--run-dir", "R", "--no-retrain", "--device", "cpu"], "needs --target one-shot"),
    (["worker", "--nameserver", "127.0.0.1:1", "--slots", "0", "--wait", "1"], "--slots must be at least 1"),
])
def test_bad_input_is_exit_code_2(main, argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_optimize_shows_one_progress_bar_over_the_schedules_jobs(main, tmp_path, capsys):
    argv = ["optimize", "--run-dir", str(tmp_path / "run"), "--iterations", "1", "--min-budget", "1",
            "--max-budget", "3", "--width", "4", "--workers", "1", "--device", "cpu", "--ping-interval", "1"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "BOHB: 100%" in err and "4/4" in err and "incumbent" in err and "[result]" not in err


def test_resuming_a_finished_run_changes_nothing_and_says_so(main, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["optimize", "--run-dir", str(run), "--iterations", "1", "--min-budget", "1", "--max-budget", "3",
            "--width", "4", "--workers", "1", "--device", "cpu", "--ping-interval", "1", "--quiet"]
    assert main(argv) == 0
    files = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["optimize", "--resume", str(run), "--workers", "1", "--device", "cpu", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert f"{run} ran all its iterations; nothing to resume" in captured.err
    assert "1 attempt(s)" in captured.out and "incumbent" in captured.out
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == files


def test_a_worker_without_a_master_says_where_it_waits_and_until_when(main, capsys):
    assert main(["worker", "--nameserver", "127.0.0.1:1", "--wait", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("bohb-das worker: waiting for a live BOHB master through nameserver 127.0.0.1:1 until ")
    assert lines[0].endswith("(--wait 1 s)")
    assert "no live BOHB master found through nameserver 127.0.0.1:1 within 1 s" in lines[1]
