#!/usr/bin/env bash
# Runs every check and test of the workspace. CI runs exactly this (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")"

# Builds are reused across clones (CI runs in a fresh clone on the same machine).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "test.sh: '$1' is required ($2)" >&2; exit 2; }
}
need cargo "the Rust toolchain"
need du "coreutils: the scanner is checked against du"
need mkfifo "coreutils: special-file tests"
need setpriv "util-linux: permission tests run as nobody when started as root"
need mount "util-linux: mount-change, noatime and cross-filesystem archive tests"
need python3 "CPython >= 3.9 with venv and pip: the Python package is built and tested"

# Tests that cannot do all they are for here (no root, no PostgreSQL) add a line to this file
# (spectra-core/tests/support/skip.rs); the count is printed at the end.
SPECTRA_SKIP_LOG="$(mktemp)"
export SPECTRA_SKIP_LOG
trap 'rm -f "$SPECTRA_SKIP_LOG"' EXIT

echo "== format"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== slim CLI: scan, collect, diag and policy from core alone"
cargo clippy -p spectra-cli --no-default-features --all-targets --locked -- -D warnings
if cargo tree -p spectra-cli --no-default-features -e normal --locked | grep -E ' (sqlx|axum|tokio-rustls|tokio|rustls) v'; then
  echo "test.sh: spectra-cli without its default features must not depend on the above" >&2
  exit 1
fi
echo "== admin CLI: usage, stale, growth, alerts, quota, team, status without the agent's runtime"
cargo clippy -p spectra-cli --no-default-features --features admin --all-targets --locked -- -D warnings
if cargo tree -p spectra-cli --no-default-features --features admin -e normal --locked | grep -E ' (sqlx|axum|tokio-util|tracing-subscriber) v'; then
  echo "test.sh: the admin commands must build without the agent runtime and the server" >&2
  exit 1
fi
echo "== docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== tests"
cargo test --workspace --locked
# spectra-core again as macOS gets it (no Linux fast paths) and as Windows gets it (no Unix
# calls either): clippy and the whole test suite on exactly that code. Their own target
# directories, since the flags change every crate's build.
for cfgs in "spectra_portable" "spectra_portable spectra_no_unix"; do
  name="${cfgs// /+}"
  flags=""
  for cfg in $cfgs; do flags="$flags --cfg $cfg"; done
  echo "== spectra-core built with: $flags"
  RUSTFLAGS="$flags" CARGO_TARGET_DIR="$CARGO_TARGET_DIR/cfg-$name" \
    cargo clippy -p spectra-core --all-targets --locked -- -D warnings
  RUSTFLAGS="$flags" CARGO_TARGET_DIR="$CARGO_TARGET_DIR/cfg-$name" \
    cargo test -p spectra-core --locked
done
echo "== python"
spectra-py/test.sh
echo "== node"
spectra-node/test.sh
echo "== schemathesis against the server's own /openapi.json (bounded)"
spectra-server/schemathesis.sh
echo "== web app (types, Vitest, build, Chromium against a real server and agents)"
web/test.sh
echo "== uniffi"
spectra-ffi/uniffi/test.sh
echo "== fuzz (each target ${FUZZ_SECONDS:-20} s)"
fuzz/run.sh
echo "== skipped"
if [ -s "$SPECTRA_SKIP_LOG" ]; then
  echo "$(wc -l < "$SPECTRA_SKIP_LOG") parts of tests skipped on this machine:"
  sort "$SPECTRA_SKIP_LOG" | uniq -c
else
  echo "none: every test ran in full"
fi
