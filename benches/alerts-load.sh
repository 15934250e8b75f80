#!/usr/bin/env bash
# Alert evaluation at fleet scale: release `spectra serve` (SQLite, then PostgreSQL) with
# `--alert-interval 1s`, AGENTS agents with 10 minutes of metrics and 20 rules (`alerts-load`),
# then ROUNDS evaluations timed by the server itself (its `alert rules evaluated` log lines).
# Prints one JSON line per store: median and p95 of an evaluation, in ms.
#   benches/alerts-load.sh [AGENTS] [ROUNDS]    (STORES="sqlite" or "postgres" to pick one)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
agents="${1:-1000}"
rounds="${2:-20}"
cargo build --release --locked -q -p spectra-cli --bin spectra -p spectra-benches --bin alerts-load
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d)"
pg_base="${SPECTRA_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}"
schema="spectra_alerts_bench_$$"
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
    RUST_LOG="spectra_server::alerts=debug" "$bin/spectra" serve --listen 127.0.0.1:0 \
        --db "$db" --enrollment-token bench-enrollment-token --log-format json \
        --agent-requests-per-minute 1000000 --alert-interval 1s >"$work/out" 2>"$work/err" &
    server=$!
    url=""
    for _ in $(seq 100); do
        url=$(sed -n 's/^spectra serve: listening on //p' "$work/out")
        [ -n "$url" ] && break
        sleep 0.1
    done
    [ -n "$url" ] || { cat "$work/err" >&2; exit 1; }
    "$bin/alerts-load" --url "$url" --enroll bench-enrollment-token --admin "$admin" \
        --agents "$agents" >/dev/null
    # Evaluations from here on see every agent and rule.
    skip=$(grep -c '"alert rules evaluated"' "$work/err" || true)
    for _ in $(seq 600); do
        seen=$(grep -c '"alert rules evaluated"' "$work/err" || true)
        [ "$seen" -ge $((skip + rounds + 1)) ] && break
        sleep 0.5
    done
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
    grep '"alert rules evaluated"' "$work/err" | tail -n +$((skip + 2)) | head -n "$rounds" |
        STORE="$store" python3 -c '
import json, os, statistics, sys
lines = [json.loads(line) for line in sys.stdin]
fields = [l.get("fields", l) for l in lines]
ms = sorted(float(f["elapsed_ms"]) for f in fields)
p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
print(json.dumps({"store": os.environ["STORE"], "evaluations": len(ms),
                  "rules": fields[-1]["rules"], "series": fields[-1]["series"],
                  "median_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1)}))'
done
