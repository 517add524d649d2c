#!/usr/bin/env bash
# One host: a BOHB master plus N workers, started separately (what `bohb-das optimize` does in one
# command, but here each piece is its own process you can watch, restart or move to another host).
# The master writes RUN_DIR/nameserver.json; workers find it there and exit on their own when the
# master is gone. Continue an interrupted run with: bohb-das master --resume RUN_DIR
# Usage: workers/local.sh RUN_DIR [N_WORKERS] [extra master flags, e.g. --iterations 8 --target oneshot]
set -euo pipefail
run_dir=${1:?usage: workers/local.sh RUN_DIR [N_WORKERS] [master flags...]}
n_workers=${2:-2}
shift $(( $# >= 2 ? 2 : 1 ))

bohb-das master --run-dir "$run_dir" --host 127.0.0.1 "$@" &
master=$!
trap 'kill "$master" 2>/dev/null || true' INT TERM
for _ in $(seq "$n_workers"); do
  OMP_NUM_THREADS=1 bohb-das worker --run-dir "$run_dir" --wait 120 &
done
wait "$master"   # workers are shut down by the master at the end of the run
wait
