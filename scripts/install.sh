#!/usr/bin/env bash
# Install everything Qserv needs on a fresh Debian/Ubuntu machine: MariaDB server binaries
# (only when mariadbd is missing; the packaged service is not used, Qserv starts private
# instances) and the Python package with its pinned dependencies.
#
#   bash scripts/install.sh               # into the current python3 (as root on a fresh machine:
#                                         # `qserv` lands on PATH, so `qserv demo` works at once)
#   bash scripts/install.sh --venv DIR    # into a virtual environment DIR (created if missing);
#                                         # then `DIR/bin/qserv demo`, or `. DIR/bin/activate`
#   --no-compiled                         # skip building the partitioner's compiled loops (~30 s;
#                                         # numba then compiles them at first use)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=""
COMPILED=1
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) [ $# -ge 2 ] || { echo "install.sh: --venv needs a directory" >&2; exit 2; }
            VENV="$2"; shift 2 ;;
    --venv=*) VENV="${1#--venv=}"; shift ;;
    --no-compiled) COMPILED=0; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  echo "installing mariadb-server (apt)..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-server mariadb-client >/dev/null
fi

PYTHON=python3
if [ -n "$VENV" ]; then
  if [ ! -x "$VENV/bin/python3" ]; then
    echo "creating a virtual environment in $VENV..."
    python3 -m venv "$VENV" || {
      echo "install.sh: python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
      exit 1; }
  fi
  PYTHON="$VENV/bin/python3"
fi
"$PYTHON" -m pip install -q -e '.[test]'
# the partitioner's compiled loops, built for this machine (~30 s): `qserv partition` then starts
# without numba (without them numba compiles on first use, as before: a slower start)
if [ "$COMPILED" = 1 ]; then
  "$PYTHON" -m qserv.admin.kernels || echo "warning: building the compiled loops failed; numba's JIT will serve"
fi
if [ -n "$VENV" ]; then
  echo "installed: $VENV/bin/qserv (run it so, or after: . $VENV/bin/activate)"
else
  echo "installed: $(command -v qserv)"
fi
