#!/usr/bin/env bash
# Builds spectra-node from this checkout the way a contributor does (npm install, the napi
# CLI) and runs its tests with `node --test`. Called by the repository's ./test.sh.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
# Not `npm ci`: npm leaves other platforms' optional packages out of napi-rs' lockfile.
npm install --no-audit --no-fund --loglevel=error
# A debug build: the tests need the addon, not its speed (benches/node-compare.sh builds
# the release one).
npx napi build --platform --js native.js --dts native.d.ts
# The loader and its declarations are generated and committed: regenerating must not change
# them.
if ! git diff --exit-code -- native.js native.d.ts; then
  echo "spectra-node: native.js / native.d.ts differ from what napi generates; commit the regenerated files" >&2
  exit 1
fi
# One test compares scan()'s defaults with the CLI's: it runs the built binary.
cargo build -q --locked -p spectra-cli --manifest-path ../Cargo.toml
export SPECTRA_CLI="$CARGO_TARGET_DIR/debug/spectra"
node --test test/
