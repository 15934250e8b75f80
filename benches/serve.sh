# Sourced by the load benches: a release `spectra serve` on loopback over SQLite or a fresh
# PostgreSQL schema ($SPECTRA_TEST_POSTGRES or the local one), cleaned up on exit.
#   store_db STORE            the database URL of STORE (sqlite|postgres), made fresh
#   start_server DB [ARGS…]   starts `$spectra serve` (default: the release build) with the
#                             bench enrollment token; sets $server and $url
#   stop_server
# Uses $work (a temporary directory it makes) and $spectra.
work="$(mktemp -d)"
spectra="${spectra:-$CARGO_TARGET_DIR/release/spectra}"
pg_base="${SPECTRA_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}"
schema="spectra_bench_$$"
server=""
url=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    psql -q "$pg_base" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

store_db() {
    if [ "$1" = sqlite ]; then
        rm -f "$work/bench.db"
        echo "$work/bench.db"
    else
        psql -q "$pg_base" -c "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema" >/dev/null
        echo "$pg_base?options=-c%20search_path%3D$schema"
    fi
}

start_server() {
    local db=$1
    shift
    "$spectra" serve --listen 127.0.0.1:0 --db "$db" --enrollment-token bench-enrollment-token \
        --agent-requests-per-minute 1000000 "$@" >"$work/out" 2>"$work/err" &
    server=$!
    url=""
    for _ in $(seq 100); do
        url=$(sed -n 's/^spectra serve: listening on //p' "$work/out")
        [ -n "$url" ] && return
        sleep 0.1
    done
    cat "$work/err" >&2
    exit 1
}

stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }
