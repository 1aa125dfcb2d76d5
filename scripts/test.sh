#!/usr/bin/env bash
# The whole test suite of silt, from a fresh Debian machine with rustup.
# Installs what the tests need when it is missing, then runs every check CI runs.
set -euo pipefail
# shellcheck source=scripts/lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
cd "$(dirname "$0")/.."

SEEDS="${SILT_SIM_SEEDS:-0..10000}"

step() { printf '\n==> %s\n' "$*"; }

step "toolchain components"
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
for tool in cargo rustfmt cargo-clippy; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing $tool: install Rust with rustup (https://rustup.rs)"; exit 1; }
done

step "test servers: moto (PyPI) for the S3 conformance suite; s3s-fs runs in-process"
if ! python3 -c "import moto.server, flask, werkzeug" >/dev/null 2>&1; then
  python3 -m pip install --quiet 'moto[server]'
fi

step "tools the mount tests run on a real mount: git, tar, rsync (apt)"
need_apt=()
for tool in git tar rsync; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
apt_install "${need_apt[@]}"

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --features silt-sim/planted-bugs -- -D warnings

step "tests: core, simulator, config, index (conformance on memory, redb, fjall; migration; corruption; SIGKILL), store, S3 remote (s3s-fs, moto, fault proxy)"
cargo test --release --workspace

step "loom: group commit under the model checker (every interleaving of three committers)"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test --release -p silt-index --no-default-features --test loom_group

step "loom: the drivers' shared state (write budget, parked callers, the blocking driver's worker queue)"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test --release -p silt-engine --test loom_budget --test loom_blocking

step "planted bugs: the simulator must catch each one"
cargo test --release -p silt-sim --features planted-bugs --test planted_bugs

step "Windows builds of core, config, index and store: clippy, and their tests under wine"
scripts/windows-tests.sh

step "macOS build of the store (F_PUNCHHOLE path): clippy; there is no macOS runner here"
if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx x86_64-apple-darwin || rustup target add x86_64-apple-darwin
fi
cargo clippy --target x86_64-apple-darwin -p silt-store --all-targets -- -D warnings

step "core scale benchmark, quick mode (it must run; the numbers are in docs/benchmarks.md)"
cargo run --release -p silt-core --example core_scale -- --quick

step "read path benchmark, quick mode (it must run; the numbers are in docs/benchmarks.md)"
cargo run --release -p silt-core --example read_path -- --quick

step "engine benchmark, quick mode (it must run; the numbers are in docs/benchmarks.md)"
cargo run --release -p silt-tokio --example engine_bench -- --quick

step "deterministic simulation, seeds ${SEEDS}"
cargo run --release -p silt-sim -- --seeds "${SEEDS}"
