#!/usr/bin/env bash
# Ingest load on loopback: release `spectra serve` on SQLite and on PostgreSQL, driven by
# `ingest-load` (simulated agents posting gzip metric batches). Prints one JSON line per run.
#   benches/ingest-load.sh [SECONDS]     (PostgreSQL: $SPECTRA_TEST_POSTGRES or the local one)
# SPECTRA_BIN runs another build of `spectra` (a before/after comparison in one run);
# STORES="sqlite" (or "postgres") limits the stores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
seconds="${1:-30}"
cargo build --release --locked -q -p spectra-cli --bin spectra -p spectra-benches --bin ingest-load
bin="$CARGO_TARGET_DIR/release"
spectra="${SPECTRA_BIN:-$bin/spectra}"
. benches/serve.sh

run() { # STORE LABEL ARGS...
    local store=$1 label=$2
    shift 2
    local line
    line=$("$bin/ingest-load" --url "$url" --enroll bench-enrollment-token --seconds "$seconds" "$@")
    echo "{\"store\": \"$store\", \"scenario\": \"$label\", \"result\": $line}"
}

for store in ${STORES:-sqlite postgres}; do
    start_server "$(store_db "$store")"
    run "$store" "1000 agents, 100 envelopes every 5 s" --agents 1000 --envelopes 100 --interval-ms 5000
    run "$store" "1000 agents, 20 envelopes every 1 s" --agents 1000 --envelopes 20 --interval-ms 1000
    run "$store" "200 agents back to back, 100 envelopes" --agents 200 --envelopes 100 --interval-ms 0
    stop_server
done
