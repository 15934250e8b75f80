#!/usr/bin/env bash
# Schemathesis (property-based API testing) against a real `spectra serve` and its own
# /openapi.json: every operation, generated and boundary inputs, bounded by --max-examples.
# It fails on any server error (5xx), any status the document does not list, any answer
# whose body does not match the schema derived from the handler's type, and wrong content
# types or headers.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
venv="${SPECTRA_SCHEMATHESIS_VENV:-$HOME/.cache/spectra-schemathesis-venv}"
[ -x "$venv/bin/schemathesis" ] || {
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"
}
cargo build -p spectra-cli --locked --quiet
bin="$CARGO_TARGET_DIR/debug/spectra"
work="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
token="$("$bin" token create --db "$work/hub.db" --role admin --name schemathesis 2>/dev/null)"
"$bin" serve --listen 127.0.0.1:0 --db "$work/hub.db" --enrollment-token schemathesis-enrollment-0123 \
  > "$work/serve.out" 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do
  url="$(sed -n 's/^spectra serve: listening on //p' "$work/serve.out")"
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/serve.log" >&2; echo "schemathesis.sh: the server did not start" >&2; exit 1; }
"$venv/bin/schemathesis" run "$url/openapi.json" \
  -H "Authorization: Bearer $token" \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-20}" --seed 1 --no-color \
  --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance,response_headers_conformance \
  | tail -25
