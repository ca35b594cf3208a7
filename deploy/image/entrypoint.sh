#!/bin/sh
# qserv-entrypoint ROLE [ARGS...]: the one entrypoint of the Qserv image.
#   czar [--config DIR]                 the czar's MariaDB and the czar (foreground)
#   worker [--name N] [--config DIR]    a worker's MariaDB and its daemon (name: the host name)
#   mariadb czar|NAME [--config DIR]    only that MariaDB server
#   probe czar|worker                   exit 0 when the node serves (readiness probes)
#   qserv ARGS... | ingest ARGS...      the CLI (`ingest` is `qserv ingest`)
#   operator [KOPF ARGS...]             the Kubernetes operator (deploy/operator/), all namespaces
# The config directory (default $QSERV_CONFIG, /etc/qserv) holds qserv.json and secrets.json.
set -eu
role="${1:-help}"
[ $# -gt 0 ] && shift
case "$role" in
  czar|worker|mariadb) exec python3 -m qserv.admin.node "$role" "$@" ;;
  probe) exec python3 -m qserv.admin.probe "$@" ;;
  operator) exec kopf run --all-namespaces "$@" -m qserv_operator.handlers ;;
  qserv) exec qserv "$@" ;;
  ingest|partition|status|replicate|drop) exec qserv "$role" "$@" ;;
  help|-h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "qserv-entrypoint: unknown role '$role' (czar, worker, mariadb, probe, qserv, ingest, operator)" >&2
     exit 2 ;;
esac
