#!/usr/bin/env bash
# Usage and quotas over AGENTS agents' snapshots on loopback: release `spectra serve` on SQLite
# and on PostgreSQL, one snapshot per agent (a real scan report of TREE with 20 owners), 40
# quotas, then GET /api/v1/usage and GET /api/v1/quota ROUNDS times each (`usage-load` in
# benches/src/bin). Prints one JSON line per store.
#   benches/usage-load.sh [AGENTS] [ROUNDS] [TREE]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
agents="${1:-1000}"
rounds="${2:-30}"
tree="${3:-/usr/share/doc}"
cargo build --release --locked -q -p spectra-cli --bin spectra -p spectra-benches --bin usage-load
bin="$CARGO_TARGET_DIR/release"
. benches/serve.sh

for store in ${STORES:-sqlite postgres}; do
    db="$(store_db "$store")"
    admin=$("$bin/spectra" token create --db "$db" --role admin --name bench)
    start_server "$db"
    line=$("$bin/usage-load" --url "$url" --enroll bench-enrollment-token --admin "$admin" \
        --agents "$agents" --rounds "$rounds" --tree "$tree")
    echo "{\"store\": \"$store\", \"result\": $line}"
    stop_server
done
