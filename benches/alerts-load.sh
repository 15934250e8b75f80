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
. benches/serve.sh

for store in ${STORES:-sqlite postgres}; do
    db="$(store_db "$store")"
    admin=$("$bin/spectra" token create --db "$db" --role admin --name bench)
    RUST_LOG="spectra_server::alerts=debug" start_server "$db" --log-format json --alert-interval 1s
    "$bin/alerts-load" --url "$url" --enroll bench-enrollment-token --admin "$admin" \
        --agents "$agents" >/dev/null
    # Evaluations from here on see every agent and rule.
    skip=$(grep -c '"alert rules evaluated"' "$work/err" || true)
    for _ in $(seq 600); do
        seen=$(grep -c '"alert rules evaluated"' "$work/err" || true)
        [ "$seen" -ge $((skip + rounds + 1)) ] && break
        sleep 0.5
    done
    stop_server
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
