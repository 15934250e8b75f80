#!/usr/bin/env bash
# Times each collector against psutil's equivalent for the same data, side by side on this
# machine, and prints medians and ratios (goal: spectra at most 1/3 of psutil's time).
#
#   benches/compare-collect.sh [CALLS]
#
# psutil is installed into a venv under ~/.cache/spectra-bench/venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
calls="${1:-200}"
venv="$HOME/.cache/spectra-bench/venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet psutil
fi
cargo build --release --quiet -p spectra-benches --bin collect-timing
spectra_json=$("$CARGO_TARGET_DIR/release/collect-timing" "$calls")
supported=$(python3 -c 'import json,sys; print(",".join(json.loads(sys.argv[1])))' "$spectra_json")
psutil_json=$("$venv/bin/python" benches/psutil_timing.py "$calls" "$supported")
python3 - "$spectra_json" "$psutil_json" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{'collector':<14}{'spectra µs':>12}{'psutil µs':>12}{'ratio':>9}")
for name, us in ours.items():
    peer = theirs.get(name)
    ratio = f"{us / peer:.2f}" if peer else "-"
    print(f"{name:<14}{us:>12.1f}{(f'{peer:.1f}' if peer else 'n/a'):>12}{ratio:>9}")
PY
