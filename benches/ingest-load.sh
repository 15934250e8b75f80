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
work="$(mktemp -d)"
pg_base="${SPECTRA_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}"
schema="spectra_bench_$$"
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    psql -q "$pg_base" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

start() { # DB URL
    "$spectra" serve --listen 127.0.0.1:0 --db "$1" --enrollment-token bench-enrollment-token \
        --agent-requests-per-minute 1000000 >"$work/out" 2>"$work/err" &
    server=$!
    for _ in $(seq 100); do
        url=$(sed -n 's/^spectra serve: listening on //p' "$work/out")
        [ -n "$url" ] && return
        sleep 0.1
    done
    cat "$work/err" >&2
    exit 1
}

stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }

run() { # STORE LABEL ARGS...
    local store=$1 label=$2
    shift 2
    local line
    line=$("$bin/ingest-load" --url "$url" --enroll bench-enrollment-token --seconds "$seconds" "$@")
    echo "{\"store\": \"$store\", \"scenario\": \"$label\", \"result\": $line}"
}

for store in ${STORES:-sqlite postgres}; do
    if [ "$store" = sqlite ]; then
        start "$work/bench.db"
    else
        psql -q "$pg_base" -c "CREATE SCHEMA $schema" >/dev/null
        start "$pg_base?options=-c%20search_path%3D$schema"
    fi
    run "$store" "1000 agents, 100 envelopes every 5 s" --agents 1000 --envelopes 100 --interval-ms 5000
    run "$store" "1000 agents, 20 envelopes every 1 s" --agents 1000 --envelopes 20 --interval-ms 1000
    run "$store" "200 agents back to back, 100 envelopes" --agents 200 --envelopes 100 --interval-ms 0
    stop
done
