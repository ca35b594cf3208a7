#!/usr/bin/env bash
# Install everything Qserv needs on a fresh Debian/Ubuntu machine: MariaDB server binaries
# (only when mariadbd is missing; the packaged service is not used, Qserv starts private
# instances) and the Python package with its pinned dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  echo "installing mariadb-server (apt)..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-server mariadb-client >/dev/null
fi
python3 -m pip install -q -e '.[test]'
# the partitioner's compiled loops, built for this machine (~30 s): `qserv partition` then starts
# without numba (without them numba compiles on first use, as before: a slower start)
python3 -m qserv.compiled || echo "warning: building the compiled loops failed; numba's JIT will serve"
echo "installed: $(command -v qserv)"
