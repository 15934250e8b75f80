#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time (FUZZ_SECONDS, default 20) from
# the committed seeds. A crash fails the run and leaves its input in fuzz/artifacts/TARGET/:
# turn it into a regression test beside the code it broke, then fix.
# libFuzzer with AddressSanitizer needs nightly flags; RUSTC_BOOTSTRAP=1 allows them on the
# stable toolchain.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-20}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# Sanitizer flags differ from the main build's: keep these artifacts apart.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}/fuzz"
export RUSTC_BOOTSTRAP=1
targets=(rule alert glob policy protocol)
cargo fuzz build
for target in "${targets[@]}"; do
  corpus=$(mktemp -d)
  log=$(mktemp)
  started=$(date +%s%N)
  if ! cargo fuzz run "$target" "$corpus" "seeds/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
    tail -50 "$log"
    echo "fuzz: $target failed (input in fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
  runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1)
  printf 'fuzz: %-8s %10s runs in %d ms\n' "$target" "${runs:-?}" "$elapsed_ms"
  rm -rf "$corpus" "$log"
done
