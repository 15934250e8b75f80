#!/usr/bin/env bash
# The uniffi interface: builds libspectra_uniffi and uniffi-bindgen, generates the Python
# bindings and runs tests/test_bindings.py against them, and generates the Kotlin and Swift
# sources to prove they generate. Called by the repository's ./test.sh.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
cargo build --quiet --locked -p spectra-uniffi -p spectra-uniffi-bindgen
library="$CARGO_TARGET_DIR/debug/libspectra_uniffi.so"
bindgen="$CARGO_TARGET_DIR/debug/uniffi-bindgen"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for language in python kotlin swift; do
  "$bindgen" generate --library "$library" --language "$language" --out-dir "$out/$language" >/dev/null
done
test -s "$out/kotlin/uniffi/spectra_uniffi/spectra_uniffi.kt"
test -s "$out/swift/spectra_uniffi.swift"
grep -q "func scan(" "$out/swift/spectra_uniffi.swift"
grep -q "fun \`scan\`\|fun scan(" "$out/kotlin/uniffi/spectra_uniffi/spectra_uniffi.kt"
cp "$library" "$out/python/"
# One test compares a scan with every setting with the CLI's: it runs the built binary.
cargo build --quiet --locked -p spectra-cli --manifest-path ../../Cargo.toml
export SPECTRA_CLI="$CARGO_TARGET_DIR/debug/spectra"
PYTHONPATH="$out/python" python3 tests/test_bindings.py -v
