#!/usr/bin/env bash
# Governance at scale on loopback: release `spectra serve` on SQLite and on PostgreSQL, a
# generated index of FILES files over 10 backends, EVENTS access events, then every governance
# query ROUNDS times (`governance-load` in benches/src/bin). Prints one JSON line per store.
#   benches/governance-load.sh [FILES] [EVENTS] [ROUNDS]
#   (PostgreSQL: $SPECTRA_TEST_POSTGRES or the local one; STORES="sqlite" or "postgres")
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
files="${1:-1000000}"
events="${2:-200000}"
rounds="${3:-30}"
cargo build --release --locked -q -p spectra-cli --bin spectra -p spectra-benches --bin governance-load
bin="$CARGO_TARGET_DIR/release"
. benches/serve.sh

for store in ${STORES:-sqlite postgres}; do
    db="$(store_db "$store")"
    admin=$("$bin/spectra" token create --db "$db" --role admin --name bench)
    start_server "$db"
    line=$("$bin/governance-load" --url "$url" --enroll bench-enrollment-token --admin "$admin" \
        --files "$files" --events "$events" --rounds "$rounds")
    echo "{\"store\": \"$store\", \"result\": $line}"
    stop_server
done
