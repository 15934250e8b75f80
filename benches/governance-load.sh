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
work="$(mktemp -d)"
pg_base="${SPECTRA_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}"
schema="spectra_gov_bench_$$"
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    psql -q "$pg_base" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

for store in ${STORES:-sqlite postgres}; do
    if [ "$store" = sqlite ]; then
        db="$work/bench.db"
    else
        psql -q "$pg_base" -c "CREATE SCHEMA $schema" >/dev/null
        db="$pg_base?options=-c%20search_path%3D$schema"
    fi
    admin=$("$bin/spectra" token create --db "$db" --role admin --name bench)
    "$bin/spectra" serve --listen 127.0.0.1:0 --db "$db" --enrollment-token bench-enrollment-token \
        --agent-requests-per-minute 1000000 >"$work/out" 2>"$work/err" &
    server=$!
    url=""
    for _ in $(seq 100); do
        url=$(sed -n 's/^spectra serve: listening on //p' "$work/out")
        [ -n "$url" ] && break
        sleep 0.1
    done
    [ -n "$url" ] || { cat "$work/err" >&2; exit 1; }
    line=$("$bin/governance-load" --url "$url" --enroll bench-enrollment-token --admin "$admin" \
        --files "$files" --events "$events" --rounds "$rounds")
    echo "{\"store\": \"$store\", \"result\": $line}"
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
done
