#!/usr/bin/env bash
# The portable collectors (sysinfo) against the native ones (/proc), per call, on this
# machine: `collect-timing` run under each SPECTRA_BACKEND, rounds interleaved so that a
# change in load hits both alike; prints the median of each collector's per-round medians.
#
#   benches/compare-backends.sh [CALLS] [ROUNDS]
#
# (The scan's portable walker is timed beside the native one and du by compare-scan.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
calls="${1:-200}"
rounds="${2:-3}"
cargo build --release --quiet -p spectra-benches --bin collect-timing
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
for ((i = 0; i < rounds; i++)); do
  for backend in native portable; do
    SPECTRA_BACKEND=$backend "$CARGO_TARGET_DIR/release/collect-timing" "$calls" >>"$results/$backend"
  done
done
python3 - "$results/native" "$results/portable" <<'PY'
import json, statistics, sys
def medians(path):
    rounds = [json.loads(line) for line in open(path)]
    return {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
native, portable = medians(sys.argv[1]), medians(sys.argv[2])
print(f"{'collector':<14}{'native µs':>12}{'portable µs':>14}{'portable/native':>17}")
for name, us in native.items():
    p = portable.get(name)
    ratio = f"{p / us:.2f}" if p else "-"
    print(f"{name:<14}{us:>12.1f}{(f'{p:.1f}' if p else 'unsupported'):>14}{ratio:>17}")
PY
