#!/usr/bin/env bash
# Builds spectra-py into a fresh virtualenv the way users install it (pip install ./spectra-py)
# and runs its tests: pytest (which includes mypy's stubtest against the .pyi) and the example
# notebook. Called by the repository's ./test.sh.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Readable by all: one test re-runs the interpreter as `nobody`.
chmod 755 "$work"
venv="$work/venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r requirements-test.txt
"$venv/bin/pip" install -q --disable-pip-version-check .
# One test compares the CLI's diagnostic defaults with Python's: it runs the built binary.
cargo build -q --locked -p spectra-cli --manifest-path ../Cargo.toml
export SPECTRA_CLI="$CARGO_TARGET_DIR/debug/spectra"
cd tests
# The notebook's kernel is found on PATH: make it this venv's.
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest -q
