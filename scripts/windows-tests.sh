#!/usr/bin/env bash
# Builds the crates that need no FUSE (core, config, index, store, and the engine: its shared
# crate and the tokio and blocking drivers with the S3 remote, whose end-to-end tests run an
# in-process s3s-fs on loopback) for
# x86_64-pc-windows-gnu and runs their tests under wine, after setting up what is missing:
# the Rust target, Debian's mingw-w64 (linker) and wine (runner, see .cargo/config.toml),
# a wine prefix under target/, and the one-function bcryptprimitives.dll that Rust's std
# needs and Debian's wine 8 lacks (scripts/windows/bcryptprimitives.c).
set -euo pipefail
# shellcheck source=scripts/lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
cd "$(dirname "$0")/.."

TARGET=x86_64-pc-windows-gnu
CRATES=(-p silt-core -p silt-config -p silt-index -p silt-store -p silt-engine -p silt-tokio -p silt-blocking)

need_apt=()
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need_apt+=(mingw-w64)
command -v wine >/dev/null 2>&1 || need_apt+=(wine wine64)
apt_install "${need_apt[@]}"
if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
fi

export WINEPREFIX="${WINEPREFIX:-$PWD/target/wine-prefix}"
export WINEDEBUG="${WINEDEBUG:--all}"
DLL="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -f "$DLL" ]; then
  echo "preparing the wine prefix $WINEPREFIX"
  mkdir -p "$WINEPREFIX"
  wineboot -i >/dev/null 2>&1 || true
  wineserver -w || true
  mkdir -p "$(dirname "$DLL")"
  x86_64-w64-mingw32-gcc -shared -O2 -Wall -Wl,--kill-at \
    -o "$DLL" scripts/windows/bcryptprimitives.c -ladvapi32
fi

echo "clippy for $TARGET"
cargo clippy --target "$TARGET" "${CRATES[@]}" --all-targets -- -D warnings
echo "tests for $TARGET under wine"
cargo test --target "$TARGET" "${CRATES[@]}"
