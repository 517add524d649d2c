#!/usr/bin/env bash
# Regenerates the reproduction in results/ (see results/README.md).
#   results/run.sh                      # everything: calibration, Tables 1-4, Figures 3-4, heatmap, comparison
#   results/run.sh table1 table3 fig3   # only these
#   results/run.sh images               # Table 1 on 2-D deblurring (not part of "everything")
#   results/run.sh related              # DAS, CLEARER, Trilevel NAS, the sparse supernet (not part of "everything")
#   results/run.sh optimizers           # the samplers compared on both targets, resumable (not part of "everything")
#   PROFILE=paper-ascale8 results/run.sh bohb table7   # the paper's five BOHB runs with bohb-das, resumable (not part of "everything")
#   PROFILE=paper-ascale8 results/run.sh slots        # the same reduced BOHB run with --slots 1 and --slots 5 (quiet machine)
#   PROFILE=paper-ascale8 TRIALS=75 CELL_EPOCHS=50 OUT=results/paper-ascale8 PROCESSES=2 results/run.sh own
#                                       # Tables 3 and 4, Figure 4 over our own BOHB incumbents (after bohb)
#   PROFILE=paper-ascale8 TRIALS=75 OUT=results/paper-ascale8 PROCESSES=2 results/run.sh table1 cells fig3 table3 fig4 transfer
#                                       # the default profile (round 2's choice) at the paper's 75 trials
#   PROFILE=paper-ascale8 TRIALS=100 CELL_EPOCHS=50 OUT=results/paper-ascale8 PROCESSES=2 results/run.sh table2
#                                       # Table 2 as in results/paper-ascale8 (2026-12-04): the paper's 100 trials
#   PROFILE=paper-ascale8 TRIALS=75 CELL_EPOCHS=50 OUT=results/paper-ascale8 PROCESSES=2 results/run.sh table4
#                                       # Table 4 as in results/paper-ascale8 (2026-12-06), the paper's 75 trials a cell
#   PROFILE=paper-ascale8 TRIALS=75 OUT=results/paper-ascale8 PROCESSES=2 results/run.sh table1 cells fig3 table3_blur_all table3 fig4 transfer
#                                       # what is in results/paper-ascale8 (2026-12-03; the cells ran with --batch 25 and 17)
# Scale and profile from the environment (defaults: round 1's reproduction in results/, under paper):
#   TRIALS=8 EPOCHS=50 WIDTH=32 K=5 PROFILE=paper     on a GPU: TRIALS=75
#   PROCESSES=2: the missing trials of a table on 2 processes, a cell each (on 2 cores about twice as fast)
#   BATCH=25: trials per batched model (default 0, a whole cell at once); an interruption then loses at most
#             one batch per process instead of a whole cell in flight
# Trials are cached in $CACHE (default results/trials, one JSON-lines file per trial spec): a re-run
# reuses every finished trial, and an interrupted run loses only the batch in flight.
set -euo pipefail
cd "$(dirname "$0")/.."
BD=${BOHB_DAS:-.venv/bin/bohb-das}
TRIALS=${TRIALS:-8}; EPOCHS=${EPOCHS:-50}; WIDTH=${WIDTH:-32}; K=${K:-5}; PROFILE=${PROFILE:-paper}
CACHE=${CACHE:-results/trials}; OUT=${OUT:-results}
RUN=(--seed 0 --device "${DEVICE:-auto}" --cache "$CACHE" --quiet --processes "${PROCESSES:-1}" --batch "${BATCH:-0}")
SCALE=(--trials "$TRIALS" --epochs "$EPOCHS" --width "$WIDTH" --k "$K")
COMMON=("${SCALE[@]}" --profile "$PROFILE" "${RUN[@]}")
# The cell-space tables (2 and 4) at CELL_EPOCHS, 10 by default: on 2 CPU cores a DAS cell of 8 trials in
# the cell space took about 3 minutes at 10 epochs and 14 at 50 (cores shared); CELL_EPOCHS=50 is the paper's.
CELL=(--trials "$TRIALS" --epochs "${CELL_EPOCHS:-10}" --width "$WIDTH" --k "$K" --profile "$PROFILE" "${RUN[@]}" --space cell)
# Calibration (Table 1 only). Round 1: candidate profiles screened at a reduced scale, then the chosen
# one and spec-v1 at 8 trials x 50 epochs, width 32. Round 2: the later readings (results/profiles/), each
# on the cells it can enter, at 24 trials x 50 epochs, width 32, beside paper on all 16 cells.
SCREEN_SCALE=(--trials 8 --epochs 10 --width 16 --k 5)
SCREENED=(spec-v1 alpha-sum domain domain-dncnn domain-skip0 domain-peak1 domain-max domain-noise10 paper)
ROUND1_SCALE=(--trials 8 --epochs 50 --width 32 --k 5)
ROUND2_SCALE=(--trials 24 --epochs 50 --width 32 --k 5)
READINGS_SEARCH=(paper-ascale640 paper-ascale64 paper-ascale32 paper-ascale16 paper-ascale8 paper-init1 paper-alpha-bn-running
  paper-oneshot-bn-batch)
READINGS_HARMFUL=(paper-noise1 paper-noise-replace paper-roll5)
READINGS_ALL=(paper-tau-identity)  # paper-clip5 (results/profiles/) not screened yet
READINGS_BOTH=(paper-ascale8-noise1)  # the promising ones together
BOHB_SEQ=(bohb-one-shot-blur bohb-one-shot-ds bohb-blur)
BEYOND=(das darts2 zarts_rs zarts_mgs zarts_gld das:sparsemax das:sparsestmax das:sigmoid das:gumbel)
# The five BOHB runs (target bohb): Table 7's space, budgets 50/9 to 50 epochs, eta 3, two local workers, all
# operations, under $PROFILE; BOHB_ITERATIONS in the sequential space (the paper's 128), BOHB_CELL_ITERATIONS in the
# cell space (a cell-space evaluation costs about twice as much). Each incumbent is exported beside the paper's presets.
BOHB_OUT=${BOHB_OUT:-results/bohb}; BOHB_ITERATIONS=${BOHB_ITERATIONS:-128}; BOHB_CELL_ITERATIONS=${BOHB_CELL_ITERATIONS:-32}
OWN=(own-bohb-one-shot-blur own-bohb-one-shot-ds own-bohb-blur own-bohb-non-seq-one-shot-blur own-bohb-non-seq-blur)
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
optimize_run() {  # DIR SLOTS ITERATIONS STUDY-FLAGS... -> the BOHB run in DIR on two local workers, resumed where it exists
  local dir=$1 slots=$2 iterations=$3; shift 3
  if [ -f "$dir/manifest.json" ]; then
    $BD optimize --resume "$dir" --workers 2 --slots "$slots" --device "${DEVICE:-auto}" --quiet
  else
    $BD optimize --run-dir "$dir" --iterations "$iterations" --profile "$PROFILE" --width "$WIDTH" --ops all \
      --seed 0 --workers 2 --slots "$slots" --device "${DEVICE:-auto}" --quiet "$@"
  fi
}
bohb_run() {  # NAME ITERATIONS STUDY-FLAGS... -> $BOHB_OUT/NAME run (or resumed), its report, spaces/presets/NAME.yaml
  local name=$1 iterations=$2; shift 2
  local dir=$BOHB_OUT/$name
  optimize_run "$dir" "${SLOTS:-1}" "$iterations" "$@"
  # a finished run's preset and page stay as they are (the preset's export date with them)
  [ "$dir/results.json" -nt "spaces/presets/$name.yaml" ] && $BD query "$dir" --top 0 --export "spaces/presets/$name.yaml" --overwrite
  [ "$dir/results.json" -nt "$dir/report.html" ] && $BD report "$dir"
  return 0
}
table1_fidelity() {  # SCALE... PROFILE... -> the fidelity layout of exactly Table 1's 16 cells, to stdout
  local name=$1; shift
  $BD table "$@" "${RUN[@]}" --hparams H1 --ops good --methods gd_only nets_only das random random_search --save-trials "$TMP/$name-good.jsonl" --output /dev/null
  $BD table "$@" "${RUN[@]}" --hparams H1 --ops all --methods das random random_search --save-trials "$TMP/$name-all.jsonl" --output /dev/null
  $BD table --from "$TMP/$name-good.jsonl" "$TMP/$name-all.jsonl" --layout fidelity
}
reading_trials() {  # NAME SCALE... -> the Table 1 cells a reading can enter, its trials saved to $TMP/NAME.jsonl
  local name=$1; shift
  local profile=(--profile "$name")  # screened from results/profiles/, or shipped since (paper-ascale8)
  [ -f "results/profiles/$name.yaml" ] && profile=(--profile "results/profiles/$name.yaml")
  local grid=(--hparams H1 "${profile[@]}" "$@" "${RUN[@]}" --output /dev/null)
  case " ${READINGS_SEARCH[*]} " in *" $name "*)  # a reading of the search: the DAS cells alone
    $BD table "${grid[@]}" --ops good all --methods das --save-trials "$TMP/$name.jsonl"; return ;; esac
  case " ${READINGS_HARMFUL[*]} " in *" $name "*)  # a reading of the harmful operations: the all-ops cells
    $BD table "${grid[@]}" --ops all --methods das random random_search --save-trials "$TMP/$name.jsonl"; return ;; esac
  case " ${READINGS_BOTH[*]} " in *" $name "*)  # of the search and the harmful operations: every searching or all-ops cell
    $BD table "${grid[@]}" --ops good all --methods das --save-trials "$TMP/$name-das.jsonl"
    $BD table "${grid[@]}" --ops all --methods random random_search --save-trials "$TMP/$name-random.jsonl"
    cat "$TMP/$name-das.jsonl" "$TMP/$name-random.jsonl" > "$TMP/$name.jsonl"; return ;; esac
  table1_fidelity "$name" "$@" "${profile[@]}" > /dev/null
  cat "$TMP/$name-good.jsonl" "$TMP/$name-all.jsonl" > "$TMP/$name.jsonl"
}
table3_over() {  # PREFIX SETS... -> $OUT/PREFIX_{good,all,stats,differences}.md: Table 3 over these hyperparameter sets
  local prefix=$1; shift
  $BD table "${COMMON[@]}" --hparams "$@" --ops good --methods das --output "$OUT/${prefix}_good.md"
  $BD table "${COMMON[@]}" --hparams "$@" --ops all --methods das --output "$OUT/${prefix}_all.md"
  $BD table "${COMMON[@]}" --hparams "$@" --ops good all --methods das --save-trials "$TMP/$prefix.jsonl" --layout stats \
    --output "$OUT/${prefix}_stats.md"
  $BD table --from "$TMP/$prefix.jsonl" --layout differences --against H1 --output "$OUT/${prefix}_differences.md"
}
fig4_over() {  # NAME SETS... -> $OUT/NAME.png: Figure 4's scatter over these sets
  local name=$1; shift
  $BD plot scatter "${COMMON[@]}" --hparams "$@" --ops good all --methods das --output "$OUT/$name.png"
}
table4_over() {  # PREFIX SETS... -> $OUT/PREFIX{,_stats,_differences}.md: Table 4 (cell space, blur) over these sets
  local prefix=$1; shift
  $BD table "${CELL[@]}" --formations blur --methods das --ops good all --hparams "$@" \
    --save-trials "$TMP/$prefix.jsonl" --output "$OUT/$prefix.md"
  $BD table --from "$TMP/$prefix.jsonl" --layout stats --output "$OUT/${prefix}_stats.md"
  $BD table --from "$TMP/$prefix.jsonl" --layout differences --against H1 --output "$OUT/${prefix}_differences.md"
}
targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(calibration table1 table3 fig3 fig4 transfer table2 table4 compare)

for target in "${targets[@]}"; do
  echo "== $target ($(date +%T))" >&2
  case $target in
    calibration)  # Table 1 per profile beside the paper's numbers: error and findings (results/calibration.md)
      table1_fidelity round2-paper "${ROUND2_SCALE[@]}" --profile paper > /dev/null
      cat "$TMP/round2-paper-good.jsonl" "$TMP/round2-paper-all.jsonl" > "$TMP/round2.jsonl"
      for name in "${READINGS_SEARCH[@]}" "${READINGS_HARMFUL[@]}" "${READINGS_ALL[@]}" "${READINGS_BOTH[@]}"; do
        reading_trials "$name" "${ROUND2_SCALE[@]}"; cat "$TMP/$name.jsonl" >> "$TMP/round2.jsonl"
      done
      { cat results/calibration-rule.md  # the rule, written before the runs
        echo "### Screening: each reading from paper, 24 trials x 50 epochs, width 32"; echo
        $BD table --from "$TMP/round2.jsonl" --layout fidelity --base paper; echo
        echo "## Round 1"; echo
        echo "Rule: the profile that holds the most of the paper's 16 stated Table 1 findings, ties broken by"
        echo "the mean absolute error of the medians; random search k = 5; reading in results/README.md."; echo
        echo "### Screening: every candidate profile at a reduced scale"; echo
        table1_fidelity screen "${SCREEN_SCALE[@]}" --profile "${SCREENED[@]}"; echo
        echo "### The chosen profile (paper) and spec-v1 at the paper's epochs and width"; echo
        table1_fidelity paper-scale "${ROUND1_SCALE[@]}" --profile paper spec-v1; } > "$OUT/calibration.md" ;;
    table1)  # methods x formations, sequential space, H1 (paper Table 1)
      $BD table "${COMMON[@]}" --hparams H1 --ops good --methods gd_only nets_only das random random_search --output "$OUT/table1_good.md"
      $BD table "${COMMON[@]}" --hparams H1 --ops all --methods das random random_search --output "$OUT/table1_all.md"
      $BD table "${COMMON[@]}" --hparams H1 --ops good all --methods das random --layout stats --output "$OUT/table1_stats.md" ;;
    table3)  # transfer table: hyperparameter sets x formations x op sets, DAS (paper Table 3)
      table3_over table3 H1 H2 "${BOHB_SEQ[@]}" ;;
    table3_blur_all)  # Table 3's blur all-operations cells alone (the collapse the paper reports for BOHB-Blur)
      $BD table "${COMMON[@]}" --hparams H1 H2 "${BOHB_SEQ[@]}" --formations blur --ops all --methods das --layout stats --output "$OUT/table3_blur_all_stats.md"
      $BD table "${COMMON[@]}" --hparams H1 H2 "${BOHB_SEQ[@]}" --formations blur --ops all --methods das --output "$OUT/table3_blur_all.md" ;;
    cells)  # every Table 1 cell's trials beside the paper's max / mean / median (the failure tails at a glance)
      table1_fidelity cells "${SCALE[@]}" --profile "$PROFILE" > "$OUT/table1_fidelity.md"
      $BD plot cells --from "$TMP/cells-good.jsonl" "$TMP/cells-all.jsonl" --output "$OUT/table1_cells.png" ;;
    fig3)  # scatter of the Table 1 DAS trials (paper Figure 3)
      $BD plot scatter "${COMMON[@]}" --hparams H1 --ops good all --methods das --output "$OUT/fig3_scatter.png" ;;
    fig4)  # scatter of the Table 3 DAS trials with BOHB hyperparameters (paper Figure 4)
      fig4_over fig4_scatter "${BOHB_SEQ[@]}" ;;
    transfer)  # Table 3 as a heatmap of the median architecture PSNR
      $BD plot transfer "${COMMON[@]}" --hparams H1 H2 "${BOHB_SEQ[@]}" --ops good all --methods das --output "$OUT/transfer.png" ;;
    table2)  # Table 1 in the cell (non-sequential) space (paper Table 2); the baselines at BASELINE_TRIALS (default TRIALS)
      $BD table "${CELL[@]}" --trials "${BASELINE_TRIALS:-$TRIALS}" --hparams H1 --ops good --methods gd_only nets_only \
        --save-trials "$TMP/t2-baselines.jsonl" --output /dev/null
      $BD table "${CELL[@]}" --hparams H1 --ops good --methods das random --save-trials "$TMP/t2-good.jsonl" --output /dev/null
      $BD table "${CELL[@]}" --hparams H1 --ops all --methods das random --save-trials "$TMP/t2-all.jsonl" --output "$OUT/table2_all.md"
      $BD table --from "$TMP/t2-baselines.jsonl" "$TMP/t2-good.jsonl" --output "$OUT/table2_good.md"
      $BD table --from "$TMP/t2-baselines.jsonl" "$TMP/t2-good.jsonl" "$TMP/t2-all.jsonl" --layout stats --output "$OUT/table2_stats.md"
      # the cell space against the sequential one (Table 1's cells at SEQ_TRIALS, default 75: the paper's Table 1)
      $BD table "${COMMON[@]}" --trials "${SEQ_TRIALS:-75}" --hparams H1 --ops good --methods gd_only nets_only das random \
        --save-trials "$TMP/t2-seq-good.jsonl" --output /dev/null
      $BD table "${COMMON[@]}" --trials "${SEQ_TRIALS:-75}" --hparams H1 --ops all --methods das random \
        --save-trials "$TMP/t2-seq-all.jsonl" --output /dev/null
      $BD table --from "$TMP"/t2-*.jsonl --layout differences --against space=sequential --output "$OUT/table2_differences.md" ;;
    table4)  # transfer table in the cell space, blur only (paper Table 4)
      table4_over table4 H1 H2 "${BOHB_SEQ[@]}" bohb-non-seq-one-shot-blur bohb-non-seq-blur ;;
    own)  # Tables 3 and 4 and Figure 4 over our own BOHB incumbents (the bohb target's exported presets that exist)
      own=(); for name in "${OWN[@]}"; do [ -f "spaces/presets/$name.yaml" ] && own+=("$name"); done
      [ ${#own[@]} -eq 0 ] && { echo "own: no exported presets spaces/presets/own-*.yaml yet (run the bohb target)" >&2; exit 2; }
      seq=(); for name in "${own[@]}"; do case $name in *non-seq*) ;; *) seq+=("$name") ;; esac; done
      [ ${#seq[@]} -gt 0 ] && { table3_over own_table3 H1 H2 "${seq[@]}"; fig4_over own_fig4_scatter "${seq[@]}"; }
      table4_over own_table4 H1 H2 "${own[@]}" ;;
    compare)  # beyond the paper: architecture updates and relaxations, one table per target
      $BD table "${COMMON[@]}" --hparams bohb-one-shot-blur --ops good all --methods "${BEYOND[@]}" --layout compare --output "$OUT/compare_arch.md"
      $BD table "${COMMON[@]}" --hparams bohb-one-shot-blur --ops good all --methods "${BEYOND[@]}" --layout compare --target one-shot --output "$OUT/compare_one_shot.md"
      $BD table "${COMMON[@]}" --hparams bohb-one-shot-blur --ops good all --methods "${BEYOND[@]}" --layout stats --output "$OUT/compare_stats.md" ;;
    images)  # Table 1 on 2-D deblurring of natural-image patches (results/images/README.md), reduced scale
      IMG=(--formations deblur2d --hparams H1 --trials "${IMG_TRIALS:-8}" --epochs "${IMG_EPOCHS:-5}" --width "${IMG_WIDTH:-16}" --k "$K" --profile "$PROFILE" "${RUN[@]}")
      mkdir -p "$OUT/images"
      $BD table "${IMG[@]}" --ops good --methods gd_only nets_only das random random_search --output "$OUT/images/table1_deblur2d_good.md"
      $BD table "${IMG[@]}" --ops all --methods das random random_search --output "$OUT/images/table1_deblur2d_all.md"
      $BD table "${IMG[@]}" --ops good all --methods das random --layout stats --output "$OUT/images/table1_deblur2d_stats.md" ;;
    related)  # the related systems beside DAS on 1-D blur and three 2-D problems (results/related/README.md), small scale
      REL=(--formations blur deblur2d denoise2d superres2d_x4 --trials "${REL_TRIALS:-8}" --epochs "${REL_EPOCHS:-10}"
           --width "${REL_WIDTH:-8}" --k "$K" "${RUN[@]}" --output /dev/null)
      mkdir -p "$OUT/related"
      $BD table "${REL[@]}" --space sequential --ops all --methods das --hparams H1 --save-trials "$TMP/rel-das.jsonl"
      $BD table "${REL[@]}" --space multiscale --ops all --methods das --hparams clearer --profile clearer --save-trials "$TMP/rel-clearer.jsonl"
      $BD table "${REL[@]}" --space trilevel --ops all --methods das_one_phase --hparams trilevel --save-trials "$TMP/rel-trilevel.jsonl"
      $BD table "${REL[@]}" --space sequential --ops all --methods sparse_supernet --hparams sparse-supernet --save-trials "$TMP/rel-sparse.jsonl"
      $BD table --from "$TMP"/rel-*.jsonl --layout stats --output "$OUT/related/stats.md" ;;
    optimizers)  # which sampler tunes DAS best (into results/optimizers/; not run yet): blur, all operations, both targets, a
      # reduced schedule (budgets OPT_MAX_BUDGET/9 to OPT_MAX_BUDGET epochs, eta 3); the one-shot runs retrain too, so
      # every one-shot incumbent also has its architecture PSNR; each run resumable through its directory
      OPT=(--samplers ${OPT_SAMPLERS:-bohb hyperband tpe smac random-search} --repetitions "${OPT_REPETITIONS:-5}"
           --formation blur --ops all --width "${OPT_WIDTH:-16}" --iterations "${OPT_ITERATIONS:-12}"
           --min-budget "$(python3 -c "print(${OPT_MAX_BUDGET:-10} / 9)")" --max-budget "${OPT_MAX_BUDGET:-10}"
           --profile "$PROFILE" --seed 0 --workers 2 --device "${DEVICE:-auto}" --quiet)
      $BD compare "${OPT_OUT:-$OUT/optimizers}/arch" "${OPT[@]}" --target arch
      $BD compare "${OPT_OUT:-$OUT/optimizers}/one-shot" "${OPT[@]}" --target one-shot ;;
    bohb)  # the paper's five BOHB runs made with bohb-das (results/bohb/README.md), each resumed where its directory exists
      bohb_run own-bohb-one-shot-blur "$BOHB_ITERATIONS" --formation blur --target one-shot --no-retrain
      bohb_run own-bohb-one-shot-ds "$BOHB_ITERATIONS" --formation downsampling --target one-shot --no-retrain
      bohb_run own-bohb-blur "$BOHB_ITERATIONS" --formation blur --target arch
      bohb_run own-bohb-non-seq-one-shot-blur "$BOHB_CELL_ITERATIONS" --space cell --formation blur --target one-shot --no-retrain
      bohb_run own-bohb-non-seq-blur "$BOHB_CELL_ITERATIONS" --space cell --formation blur --target arch ;;
    slots)  # the --slots pair: one reduced schedule (SLOTS_ITERATIONS of the paper-scale one, architecture target) run
      # with --slots 1 and --slots SLOTS_K; their wall times into $BOHB_OUT/slots.md (run it on a quiet machine)
      slots=(1 "${SLOTS_K:-5}")
      for k in "${slots[@]}"; do
        optimize_run "$BOHB_OUT/slots/slots-$k" "$k" "${SLOTS_ITERATIONS:-6}" --formation blur --target arch
      done
      { echo "# --slots ${slots[0]} against --slots ${slots[1]} on one reduced schedule ($(date +%F))"; echo
        for k in "${slots[@]}"; do echo '```'; $BD query "$BOHB_OUT/slots/slots-$k" --top 1; echo '```'; done; } > "$BOHB_OUT/slots.md" ;;
    table7)  # our incumbents beside the paper's Tables 6-8 (the runs of the bohb target that exist)
      sets=(H1 H2); for name in "${OWN[@]}"; do sets+=("${name#own-}"); [ -d "$BOHB_OUT/$name" ] && sets+=("$BOHB_OUT/$name"); done
      $BD presets "${sets[@]}" --output "$BOHB_OUT/table7.md" ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
done
echo "== done ($(date +%T))" >&2
