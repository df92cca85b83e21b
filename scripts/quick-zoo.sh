#!/usr/bin/env bash
# The whole pipeline on real data at the size one 2-core machine affords in a session, timed:
# pool → backbone features → base supernet → per-task zoo (two shard processes) → merge →
# sanity report → meta-training → meta-test transfer (as many processes, then the report) →
# Pareto-vs-random construction replay.
# Every stage resumes where a killed run stopped; rerunning skips what is done.
# Usage: [SHARDS="0/2 1/2"] [ZOO_CONFIG=…] [TRANSFER_CONFIG=…] [CONSTRUCT_SIZES=…] scripts/quick-zoo.sh [WORK=~/tans-quick] > timings.txt
# SHARDS lists the shard processes that build the zoo side by side; "0/4 2/4" builds half the
# tasks, "0/8 4/8" a quarter. ZOO_CONFIG replaces trainer/configs/zoo-quick.toml (the default
# zoo: trainer/configs/zoo-default.toml) and TRANSFER_CONFIG trainer/configs/transfer-quick.toml;
# CONSTRUCT_SIZES are the zoo sizes (pairs) of the construction replay.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-$HOME/tans-quick}
POOL=$WORK/pool ZOO=$WORK/zoo PUBLISHED=$WORK/published REPORT=$WORK/report
ZOO_CONFIG=${ZOO_CONFIG:-trainer/configs/zoo-quick.toml}
TRANSFER_CONFIG=${TRANSFER_CONFIG:-trainer/configs/transfer-quick.toml}
CONSTRUCT_SIZES=${CONSTRUCT_SIZES:-200,400,600}
# The target dir xtask uses, outside the clone.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tans/target}
cargo build --release --workspace --bins >&2
TANS=$CARGO_TARGET_DIR/release/tans
mkdir -p "$WORK"
stage() {
  local name=$1
  shift
  local started=$SECONDS
  "$@" >&2
  echo "$name: $((SECONDS - started)) s"
}
stage fetch "$TANS" data fetch
stage pool "$TANS" data build --out "$POOL"
stage import "$TANS" backbone import
stage features "$TANS" backbone features --pool "$POOL" --side 32
stage base "$TANS" zoo base --pool "$POOL" --zoo "$ZOO" --config "$ZOO_CONFIG"
SHARDS=${SHARDS:-0/2 1/2}
# `shards LIST COMMAND…` runs COMMAND --shard S for every S in LIST side by side; fails if any
# of them fails.
shards() {
  local list=$1 pids=() failed=0
  shift
  for shard in $list; do
    "$@" --shard "$shard" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  return $failed
}
stage zoo-build shards "$SHARDS" "$TANS" zoo build --pool "$POOL" --zoo "$ZOO" --config "$ZOO_CONFIG"
stage merge "$TANS" zoo merge --zoo "$ZOO"
stage zoo-report "$TANS" zoo report --zoo "$ZOO"
stage meta-train "$TANS" meta-train --zoo "$ZOO" --pool "$POOL" --out "$PUBLISHED"
TRANSFER=("$TANS" transfer --published "$PUBLISHED" --zoo "$ZOO" --pool "$POOL"
  --zoo-config "$ZOO_CONFIG" --config "$TRANSFER_CONFIG" --out "$REPORT")
# The meta-test tasks split over as many processes as the zoo build ran; a last run writes
# the report from their fine-tuning runs.
processes=$(wc -w <<<"$SHARDS")
stage transfer-shards shards "$(seq -f "%g/$processes" 0 $((processes - 1)))" "${TRANSFER[@]}"
stage transfer "${TRANSFER[@]}"
stage construct "$TANS" zoo construct --zoo "$ZOO" --pool "$POOL" --sizes "$CONSTRUCT_SIZES" \
  --out "$REPORT/construction"
du -sh "$POOL" "$ZOO" "$PUBLISHED" >&2
