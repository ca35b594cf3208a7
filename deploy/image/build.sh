#!/bin/sh
# Build the Qserv image without any image registry:
#   deploy/image/build.sh [TAG]        (default qserv-py:latest; needs root, podman, runc)
# 1. the base, once: a minimal Debian bookworm made with debootstrap from the Debian mirror,
#    imported as localhost/debian-base:bookworm;
# 2. the image: deploy/image/Containerfile over a context of only what it copies.
# Flags: runc and cgroupfs (crun fails on hybrid cgroups), ulimits below the hard limits.
set -eu
tag="${1:-qserv-py:latest}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
base="localhost/debian-base:bookworm"
PODMAN="podman --runtime runc --cgroup-manager=cgroupfs"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if ! $PODMAN image exists "$base"; then
  echo "making $base with debootstrap..."
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$work/rootfs" -c . | $PODMAN import - "$base" >/dev/null
  rm -rf "$work/rootfs"
fi
mkdir "$work/context"
tar -C "$root" -c --exclude=__pycache__ --exclude='*.egg-info' --exclude=qserv/_built \
    pyproject.toml README.md qserv czar worker partitioner deploy/image deploy/operator/qserv_operator | tar -x -C "$work/context"
ca="${QSERV_BUILD_CA:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}"
secret=""
[ -s "$ca" ] && secret="--secret id=ca,src=$ca"
# shellcheck disable=SC2086
$PODMAN build --format docker $secret --ulimit nofile=10000:10000 --ulimit nproc=1000:1000 \
    -f "$work/context/deploy/image/Containerfile" -t "$tag" "$work/context"
