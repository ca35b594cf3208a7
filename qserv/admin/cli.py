"""The `qserv` command: run a local cluster, load catalogs, try the demo."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_DIR = "./qserv-cluster"
# Exit codes, the same for every command (shown by `qserv --help`).
OK, FAILED, USAGE = 0, 1, 2
EXIT_CODES = """\
exit codes (every command):
  0  done
  1  failed: the command ran and did not succeed (a file missing or malformed, a process not
     up, an ingest or validation that failed); the message says what and where
  2  usage: the command line is wrong (unknown option, missing argument, a confirmation such
     as `qserv drop --yes` not given, options that contradict the cluster directory)
set QSERV_DEBUG=1 to see the Python traceback of a failure"""


def cmd_up(args) -> int:
    from qserv.admin.cluster import ClusterError, up
    from qserv.config import CLIENT_CNF, ClusterConfig, CONFIG_FILE
    path = Path(args.dir) / CONFIG_FILE
    if path.exists():
        config = ClusterConfig.load(args.dir)
        if args.workers is not None and args.workers != len(config.workers):
            print(f"{args.dir} holds a cluster of {len(config.workers)} workers; "
                  f"use another --dir for {args.workers}", file=sys.stderr)
            return 2
        created = False
    else:
        password = "" if args.no_password else args.password   # None: generated
        config = ClusterConfig.create(args.dir, args.workers or 4, frontend_port=args.port,
                                      base_port=args.base_port, user=args.user, password=password)
        created = True
    try:
        up(config, supervise=not args.no_supervise)
    except ClusterError as e:
        print(f"qserv up: {e}", file=sys.stderr)
        return 1
    if created and config.password and args.password is None:
        print(f"generated password of {config.user}: {config.password} (shown once; it is in "
              f"{config.root / CLIENT_CNF})")
    print(f"cluster up in {config.root}: mariadb --defaults-extra-file={config.root / CLIENT_CNF}"
          f"  (or -h {config.host} -P {config.frontend_port} -u {config.user}"
          f"{' -p' if config.password else ''})")
    return 0


def cmd_down(args) -> int:
    from qserv.admin.cluster import down
    from qserv.config import ClusterConfig
    down(ClusterConfig.load(args.dir))
    print("cluster stopped")
    return 0


def cmd_status(args) -> int:
    from qserv.admin.cluster import status
    from qserv.config import ClusterConfig
    rows = status(ClusterConfig.load(args.dir))
    width = max(len(r.name) for r in rows)
    for r in rows:
        print(f"{r.name:<{width}}  {r.state:<9}  {r.detail}")
    from qserv.admin.cluster import table_sizes
    for db, tables in table_sizes(ClusterConfig.load(args.dir)).items():
        print(f"database {db}: " + ", ".join(f"{t} {n:,} rows ({size / 1e6:.1f} MB)"
                                             for t, n, size in tables))
    # a cluster started with --no-supervise is whole without a supervisor
    return 0 if all(r.state == "up" or (r.name == "supervisor" and r.state == "off")
                    for r in rows) else 1


def cmd_load(args) -> int:
    from qserv.catalog import DatabaseSpec
    from qserv.config import ClusterConfig
    spec = DatabaseSpec.read(args.spec)
    started = time.monotonic()
    rejected: dict[str, int] = {}
    rejects = getattr(args, "rejects", None)      # (`qserv demo` calls this without it)
    from qserv.admin.ingest_client import partition_and_ingest   # partition + transactional ingest
    counts = partition_and_ingest(ClusterConfig.load(args.dir), spec,
                                  show_progress=not args.quiet, rejects=rejects,
                                  rejected=rejected,
                                  echo=(lambda *_: None) if args.quiet else print)
    print(f"loaded {spec.name} in {time.monotonic() - started:.1f} s: "
          + ", ".join(f"{t} {n} rows" for t, n in counts.items()))
    if any(rejected.values()):
        print(f"set aside in {rejects}: "
              + ", ".join(f"{t} {n} rows" for t, n in rejected.items() if n))
    return OK


def cmd_drop(args) -> int:
    from qserv.config import ClusterConfig
    from qserv.admin.ingest_client import drop_command
    if not args.yes:
        answer = ""
        if sys.stdin.isatty():
            answer = input(f"drop database {args.database} and every row of it on every worker? "
                           "[y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print(f"qserv drop: not dropped; add --yes to drop {args.database} without asking",
                  file=sys.stderr)
            return USAGE
    return drop_command(ClusterConfig.load(args.dir), args.database)


def cmd_demo(args) -> int:
    from qserv.admin.cluster import running_daemons
    from qserv.config import CLIENT_CNF, ClusterConfig, CONFIG_FILE
    from qserv.admin.demo import generate
    if not (Path(args.dir) / CONFIG_FILE).exists() or not running_daemons(ClusterConfig.load(args.dir)):
        args.workers = args.workers or 4
        if cmd_up(args) != 0:
            return 1
    config = ClusterConfig.load(args.dir)
    spec_path = generate(Path(args.dir) / "demo-data", n_objects=args.objects)
    print(f"generated a demo catalog of {args.objects} objects in {spec_path.parent}")
    args.spec, args.quiet = str(spec_path), False
    if cmd_load(args) != 0:
        return 1
    import pymysql
    conn = pymysql.connect(host=config.host, port=config.frontend_port, user=config.user,
                           password=config.password, database="demo")
    with conn.cursor() as cur:
        for sql in ("SELECT COUNT(*) FROM Object",
                    "SELECT f.filterName, COUNT(*) AS n FROM Source s JOIN Filter f "
                    "ON s.filterId = f.filterId GROUP BY f.filterName ORDER BY f.filterName"):
            cur.execute(sql)
            print(f"\n{sql}\n  -> {cur.fetchall()}")
    conn.close()
    print(f"\nConnect with: mariadb --defaults-extra-file={config.root / CLIENT_CNF} demo"
          f"\nStop with:    qserv down --dir {args.dir}")
    return 0


def cmd_ingest(args) -> int:
    from qserv.config import ClusterConfig
    from qserv.admin.ingest_client import ingest_command, status_command
    config = ClusterConfig.load(args.dir)
    if args.source == "status":
        return status_command(config, args.database)
    return ingest_command(config, args.source, database=args.database or None,
                          replication=args.replication, jobs_per_worker=args.jobs,
                          retries=args.retries, progress=not args.quiet, only=args.step,
                          bundle_bytes=int(args.bundle_mb * (1 << 20)))


def cmd_replicate(args) -> int:
    from qserv.config import ClusterConfig
    from qserv.admin.replicate import ReplicationError, replicate
    try:
        reports = replicate(ClusterConfig.load(args.dir), args.database or None,
                            replication=args.replication, jobs=args.jobs)
    except ReplicationError as e:
        print(f"qserv replicate: {e}", file=sys.stderr)
        return 1
    for r in reports:
        for chunk, new in sorted(r.copied.items()):
            print(f"{r.database}: chunk {chunk} copied to {', '.join(new)} (verified)")
        if r.unrecoverable:
            print(f"{r.database}: no live replica of chunks {', '.join(map(str, r.unrecoverable))}: "
                  "start a worker that holds them and run this again", file=sys.stderr)
        for chunk, why in sorted(r.failed.items()):
            print(f"{r.database}: chunk {chunk} not restored: {why}", file=sys.stderr)
    return 0 if all(r.ok for r in reports) else 1


def cmd_node(args) -> int:
    from qserv.admin.node import main as node
    return node([args.command, "--config", args.config]
                + (["--name", args.name] if getattr(args, "name", None) else []))


def build_parser() -> argparse.ArgumentParser:
    from qserv import __version__
    p = argparse.ArgumentParser(prog="qserv", description=(
        "Qserv in Python: a distributed, spatially sharded SQL engine for sky catalogs. "
        "Clients connect with any MySQL client to the czar (port 4040 by default)."),
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"qserv {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _add_cluster_commands(sub)
    _add_load_commands(sub)
    _add_admin_commands(sub)
    from qserv.admin.query_client import add_parser as add_query_parser
    add_query_parser(sub, with_dir)
    _add_node_commands(sub)
    return p


def with_dir(sp):
    sp.add_argument("--dir", default=DEFAULT_DIR,
                    help=f"cluster directory: config, data, logs (default {DEFAULT_DIR})")
    return sp


def with_up_options(sp):
    sp.add_argument("--workers", type=int, default=None, help="number of workers (default 4)")
    sp.add_argument("--port", type=int, default=4040, help="MySQL port of the czar (default 4040)")
    sp.add_argument("--base-port", type=int, default=13306,
                    help="first internal port: czar MariaDB; workers' MariaDB and gRPC count up "
                         "from here (default 13306)")
    sp.add_argument("--user", default="qsmaster", help="MySQL user clients log in as")
    sp.add_argument("--password", default=None,
                    help="its password (default: generated, printed once and kept in DIR/my.cnf)")
    sp.add_argument("--no-password", action="store_true",
                    help="let the user log in without a password (a local playground only)")
    sp.add_argument("--no-supervise", action="store_true",
                    help="start no supervisor: a crashed process stays down until the next "
                         "`qserv up`")


def _add_cluster_commands(sub) -> None:
    """up, down, status, demo: the local cluster."""
    sp = with_dir(sub.add_parser(
        "up", help="start a local cluster (private mariadbd per worker) and its supervisor; on a "
                   "partly running cluster, start what is missing"))
    with_up_options(sp)
    sp.set_defaults(func=cmd_up)
    with_dir(sub.add_parser("down", help="stop every process of the cluster")).set_defaults(func=cmd_down)
    with_dir(sub.add_parser("status", help="show each process and each database's tables; exit 1 "
                                           "unless all processes are up")).set_defaults(func=cmd_status)
    sp = with_dir(sub.add_parser("demo", help="start a cluster if needed, generate and load a demo "
                                              "catalog, run two queries"))
    with_up_options(sp)
    sp.add_argument("--objects", type=int, default=20_000, help="Objects to generate (default 20000)")
    sp.set_defaults(func=cmd_demo)


def _add_load_commands(sub) -> None:
    """load, partition, ingest: getting a catalog in."""
    sp = with_dir(sub.add_parser("load", help="load a catalog described by a spec JSON (CSV files)"))
    sp.add_argument("spec", help="DatabaseSpec JSON; its `data` paths are relative to it")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--rejects", metavar="FILE",
                    help="write input rows that cannot be loaded (malformed, no position, child "
                         "without director) to FILE (table, file, line, reason, row; "
                         "tab-separated) and load the others, instead of stopping at the first")
    sp.set_defaults(func=cmd_load)
    from partitioner.cli import add_parser as add_partition_parser
    add_partition_parser(sub)
    sp = with_dir(sub.add_parser(
        "ingest", help="ingest a partitioned catalog (the partitioner's output) over the czar's "
                       "HTTP API, in transactions; resumable; `qserv ingest status [DB]`",
        description="Runs register -> allocate -> load (one transaction per chunk, parallel "
                    "across workers) -> index -> publish -> validate. Run it again after any "
                    "failure or kill: committed chunks are kept, open transactions aborted, "
                    "the rest loaded."))
    sp.add_argument("source", help="the partitioner's output directory or its manifest.json; "
                                   "or `status` to show the ingest state")
    sp.add_argument("database", nargs="?", default=None,
                    help="database name (default: the manifest's); with `status`, the database")
    sp.add_argument("--replication", type=int, default=1, help="copies of each chunk (default 1)")
    sp.add_argument("-j", "--jobs", type=int, default=2,
                    help="transactions loading at once per worker (default 2)")
    sp.add_argument("--bundle-mb", type=float, default=16,
                    help="chunks per transaction: whole chunks of the same workers up to this "
                         "many MB (or 1000 files) in one request and one worker stream; 0: one "
                         "transaction per chunk and one request per file (default 16)")
    sp.add_argument("--retries", type=int, default=2,
                    help="times a failed transaction is aborted and tried again (default 2)")
    sp.add_argument("--step", choices=("queue", "register", "allocate", "load", "index", "publish",
                                       "validate"), default=None,
                    help="run only this step (one task of the Argo workflow in deploy/argo/)")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_ingest)


def _add_admin_commands(sub) -> None:
    """drop, replicate: changing what a cluster holds."""
    sp = with_dir(sub.add_parser(
        "drop", help="delete a database: its tables on every worker, its metadata, its ingest "
                     "state (asks first; --yes does not)"))
    sp.add_argument("database", help="the database to delete")
    sp.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sp.set_defaults(func=cmd_drop)
    sp = with_dir(sub.add_parser(
        "replicate", help="give every chunk its R live replicas again after a worker is lost",
        description="Copies the chunks that have fewer live replicas than the database's "
                    "replication factor from a live replica to other live workers, verifies "
                    "each copy (row counts per transaction and CHECKSUM TABLE) and only then "
                    "lists it in the placement queries use. See docs/operations.md."))
    sp.add_argument("database", nargs="?", default=None, help="one database (default: all)")
    sp.add_argument("--replication", type=int, default=None,
                    help="copies wanted (default: the database's, from its ingest)")
    sp.add_argument("-j", "--jobs", type=int, default=4, help="chunks copied at once (default 4)")
    sp.set_defaults(func=cmd_replicate)


def _add_node_commands(sub) -> None:
    """czar, worker: one role in the foreground (containers, hosts of a many-host cluster)."""
    from qserv.admin.node import DEFAULT_CONFIG
    for role, what in (("czar", "the czar and its MariaDB"),
                       ("worker", "one worker (its daemon and its MariaDB)")):
        sp = sub.add_parser(role, help=f"run {what} in the foreground, from a config directory "
                                       "(qserv.json + secrets.json): what a container or a "
                                       "host of a many-host cluster runs; stops on SIGTERM")
        sp.add_argument("--config", "--dir", dest="config", default=DEFAULT_CONFIG,
                        help=f"config directory (default $QSERV_CONFIG or {DEFAULT_CONFIG})")
        if role == "worker":
            sp.add_argument("--name", default=None, help="the worker's name in the config "
                                                         "(default: $QSERV_WORKER_NAME, else the host name)")
        sp.set_defaults(func=cmd_node)


def main(argv=None) -> int:
    import json
    import os

    args = build_parser().parse_args(argv)   # usage errors: argparse exits with 2
    from partitioner.run import PartitionError
    from qserv.admin.cluster import ClusterError
    from qserv.admin.ingest_client import IngestClientError
    from qserv.admin.query_client import QueryClientError
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"qserv {args.command}: interrupted", file=sys.stderr)
        return 130
    except (OSError, PartitionError, IngestClientError, QueryClientError, ClusterError,
            json.JSONDecodeError, ValueError) as e:
        # What a user can fix (a file, a row, a process that is down): one line, no traceback.
        if os.environ.get("QSERV_DEBUG"):
            raise
        print(f"qserv {args.command}: {e}", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
