#!/usr/bin/env bash
# spectra-node against the CLI and against systeminformation, release builds, one run:
#   benches/node-compare.sh [TREE] [ROUNDS]      (TREE defaults to /usr)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
cargo build --release --locked -q -p spectra-cli --bin spectra
(cd spectra-node && npm install --no-audit --no-fund --loglevel=error && npx napi build --platform --release --js native.js --dts native.d.ts >/dev/null)
node benches/node-compare.js "$CARGO_TARGET_DIR/release/spectra" "${1:-/usr}" "${2:-7}"
