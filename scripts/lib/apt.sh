# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/windows-tests.sh (bash).

# apt_install PACKAGE...: installs the Debian packages named (the ones the caller found
# missing) with apt-get, quietly; when not root, says how to install them and exits 1.
# No package named: does nothing.
apt_install() {
  (($#)) || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing $*: run as root, or: sudo apt-get install $*"
    exit 1
  fi
  echo "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
