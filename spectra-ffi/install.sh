#!/usr/bin/env bash
# Installs the C library: PREFIX/lib/libspectra.{so,a}, PREFIX/include/spectra.h and
# PREFIX/lib/pkgconfig/spectra.pc, so that `pkg-config --cflags --libs spectra` (and cgo's
# `#cgo pkg-config: spectra`) find it.
#   spectra-ffi/install.sh PREFIX [--debug]
set -euo pipefail
cd "$(dirname "$0")"
prefix="$(realpath -m "${1:?usage: install.sh PREFIX [--debug]}")"
profile=release
[ "${2:-}" = "--debug" ] && profile=debug
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
if [ "$profile" = release ]; then
  cargo build --quiet --locked --release -p spectra-ffi
else
  cargo build --quiet --locked -p spectra-ffi
fi
version="$(sed -n 's/^version = "\(.*\)"/\1/p' ../Cargo.toml | head -1)"
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$CARGO_TARGET_DIR/$profile/libspectra.so" "$prefix/lib/"
install -m 0644 "$CARGO_TARGET_DIR/$profile/libspectra.a" "$prefix/lib/"
install -m 0644 include/spectra.h "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" spectra.pc.in >"$prefix/lib/pkgconfig/spectra.pc"
