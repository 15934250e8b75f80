#!/usr/bin/env bash
# The Python binding's overhead: spectra.scan against the CLI, and each collector call against
# psutil, side by side (benches/python_binding_timing.py). Installs spectra-py (release build)
# and psutil into a venv under ~/.cache/spectra-bench/py-venv.
#
#   benches/compare-python.sh [TREE] [RUNS] [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
cargo build --release --quiet --bin spectra -p spectra-cli
cargo build --release --quiet --bin gen-tree -p spectra-benches
tree="${1:-$("$CARGO_TARGET_DIR/release/gen-tree" 200000 4000)}"
venv="$HOME/.cache/spectra-bench/py-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check maturin psutil
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps ./spectra-py
cd benches
"$venv/bin/python" python_binding_timing.py "$CARGO_TARGET_DIR/release/spectra" "$tree" "${2:-7}" "${3:-200}"
