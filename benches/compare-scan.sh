#!/usr/bin/env bash
# Times `spectra scan --format json` side by side with du and, when installed, diskus, dua, pdu
# and dust on one tree (warm cache), and prints medians, ratios, CPU time and peak RSS.
#
#   benches/compare-scan.sh [TREE] [RUNS]            warm page cache (the default)
#   CACHE=cold benches/compare-scan.sh [TREE] [RUNS]  cold: caches dropped before every run
#
# Without TREE it builds (once, under ~/.cache/spectra-bench) a tree of 500k files in 20k
# directories. Warm: each tool is run once to warm the cache, then RUNS times (default 7), the
# tools interleaved so that a change in machine load hits them all alike. Cold (root only):
# `sync; echo 3 > /proc/sys/vm/drop_caches` before every run of every tool, no warm-up.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"

cargo build --release --quiet --bin spectra -p spectra-cli
cargo build --release --quiet --bin gen-tree -p spectra-benches
tree="${1:-$("$CARGO_TARGET_DIR/release/gen-tree" 500000 20000)}"
runs="${2:-7}"
spectra="$CARGO_TARGET_DIR/release/spectra"

declare -A cmd
order=(spectra portable du)
cmd[spectra]="$spectra scan --format json $tree"
# The portable walker (std::fs), what macOS and Windows get.
cmd[portable]="env SPECTRA_BACKEND=portable $spectra scan --format json $tree"
cmd[du]="du -s $tree"
for peer in diskus dua pdu dust; do
  if command -v "$peer" >/dev/null 2>&1; then order+=("$peer"); fi
done
cmd[diskus]="diskus $tree"
cmd[dua]="dua aggregate $tree"
cmd[pdu]="pdu --max-depth=1 $tree"
cmd[dust]="dust -n 10 $tree"

cache="${CACHE:-warm}"
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
if [ "$cache" = cold ] && ! drop_caches 2>/dev/null; then
  echo "compare-scan: CACHE=cold needs root (writing /proc/sys/vm/drop_caches)" >&2
  exit 2
fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
if [ "$cache" = warm ]; then
  for tool in "${order[@]}"; do ${cmd[$tool]} >/dev/null 2>&1 || true; done
fi
for ((i = 0; i < runs; i++)); do
  for tool in "${order[@]}"; do
    if [ "$cache" = cold ]; then drop_caches; fi
    # %e wall seconds, %U user, %S system, %M peak RSS in KiB
    /usr/bin/time -f "%e %U %S %M" -a -o "$results/$tool" ${cmd[$tool]} >/dev/null 2>&1 || true
  done
done

entries=$(find "$tree" | wc -l)
echo "tree: $tree ($entries entries), $runs runs each, $(nproc) CPUs, $cache cache"
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
base=$(awk '{print $1}' "$results/spectra" | median)
du_cpu=$(awk '{print $2 + $3}' "$results/du" | median)
printf "%-8s %10s %12s %14s %12s %12s\n" tool "median s" "vs spectra" "CPU s (u+s)" "CPU µs/entry" "peak RSS MB"
for tool in "${order[@]}"; do
  wall=$(awk '{print $1}' "$results/$tool" | median)
  cpu=$(awk '{print $2 + $3}' "$results/$tool" | median)
  rss=$(awk '{print $4}' "$results/$tool" | median)
  awk -v t="$tool" -v w="$wall" -v b="$base" -v c="$cpu" -v r="$rss" -v n="$entries" \
    'BEGIN { printf "%-8s %10.3f %11.2fx %14.3f %12.2f %12.1f\n", t, w, (b > 0 ? w / b : 0), c, c * 1e6 / n, r / 1024 }'
done
echo "CPU time per entry, spectra vs du -s: $(awk -v a="$(awk '{print $2 + $3}' "$results/spectra" | median)" -v b="$du_cpu" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')"
