#!/usr/bin/env bash
# Measures the full dataset pool: two builds from scratch (time, byte-identical?), a build
# killed with kill -9 after 20 s and resumed (time, identical to the first?), and a rerun over a
# finished pool (time). Needs the sources:
# `cargo xtask tans data fetch`. Output folders go under ${OUT:-/tmp/tans-measure}.
set -u
cd "$(dirname "$0")/.."
cargo xtask tans --version > /dev/null
T=${CARGO_TARGET_DIR:-$HOME/.cache/tans/target}/release/tans
OUT=${OUT:-/tmp/tans-measure}
rm -rf "$OUT" && mkdir -p "$OUT"
for run in 1 2; do
  start=$(date +%s%N)
  "$T" data build --out "$OUT/pool$run" 2>&1 | grep "pool at"
  echo "build $run: $(( ($(date +%s%N) - start) / 1000000 )) ms"
done
diff -r "$OUT/pool1" "$OUT/pool2" > /dev/null && echo "build 1 == build 2" || echo "build 1 != build 2"
"$T" data build --out "$OUT/pool3" > /dev/null 2>&1 &
sleep 20
kill -9 $! 2>/dev/null
wait $! 2>/dev/null
start=$(date +%s%N)
"$T" data build --out "$OUT/pool3" > /dev/null 2>&1
echo "resumed after kill -9: $(( ($(date +%s%N) - start) / 1000000 )) ms"
diff -r "$OUT/pool1" "$OUT/pool3" > /dev/null && echo "build 1 == killed and resumed" || echo "build 1 != killed and resumed"
start=$(date +%s%N)
"$T" data build --out "$OUT/pool1" > /dev/null 2>&1
echo "rerun over the finished build 1: $(( ($(date +%s%N) - start) / 1000000 )) ms"
echo "PNG files: $(find "$OUT/pool1" -name '*.png' | wc -l)"
du -sh --apparent-size "$OUT/pool1/.packed"
