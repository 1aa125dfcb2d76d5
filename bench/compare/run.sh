#!/usr/bin/env bash
# The side-by-side benchmark of issue 15: the local disk, silt, rclone (--vfs-cache-mode
# full) and s3fs (-o use_cache) on the same workloads against one loopback s3s-fs server,
# with `aws s3 cp` as the reference for the bucket rows. Prints one markdown table.
#
#   sudo bench/compare/run.sh                  # 3 repetitions, about 12 minutes on 2 cores
#   sudo bench/compare/run.sh --reps 1         # a quick look
#   sudo bench/compare/run.sh --scale          # also the scale rows (silt: 110 000 files, 4 GiB)
#   sudo bench/compare/run.sh --help           # every option
#
# From a fresh clone on Debian 12, as root: installs rclone, s3fs and awscli (apt) when
# missing, builds silt (cargo build --release -p silt-fuse) and the server (s3s-fs as a
# library, bench/compare/server), then runs bench/compare/compare.py.
# The table also goes to target/bench-compare.md (raw figures: target/bench-compare.json).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
  echo "run as root: the benchmark drops the page cache and mounts FUSE filesystems" >&2
  exit 1
fi
[ -e /dev/fuse ] || { echo "/dev/fuse is missing: load the fuse module (modprobe fuse)" >&2; exit 1; }

missing=()
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
command -v s3fs >/dev/null 2>&1 || missing+=(s3fs)
command -v fusermount >/dev/null 2>&1 || missing+=(fuse)
command -v aws >/dev/null 2>&1 || missing+=(awscli)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo is missing: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }

echo "==> cargo build --release -p silt-fuse" >&2
cargo build --release -p silt-fuse >&2

# The server: s3s-fs 0.14.1 as a library behind bench/compare/server (a crate of its own,
# outside the workspace, so the test build never compiles it).
echo "==> cargo build --release of bench/compare/server (the S3-compatible server)" >&2
CARGO_TARGET_DIR="$PWD/target/bench-tools/build" \
  cargo build --release --locked --manifest-path bench/compare/server/Cargo.toml >&2

exec python3 bench/compare/compare.py --silt target/release/silt \
  --server target/bench-tools/build/release/silt-bench-server \
  --out target/bench-compare.md "$@"
