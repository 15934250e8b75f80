#!/usr/bin/env bash
# The web app at fleet scale (see web-load.mjs): 1,000 agents on SQLite, the overview API's
# latency, cold loads in Chromium, the initial JavaScript, server CPU with 50 open pages.
#   benches/web-load.sh            (AGENTS=… to change the fleet)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
cargo build --release --locked -q -p spectra-cli --bin spectra
(cd web && npm install --no-audit --no-fund --loglevel=error)
SPECTRA_BIN="$CARGO_TARGET_DIR/release/spectra" node benches/web-load.mjs
