"""The `qserv` command as a new user meets it, through the real CLI (subprocesses, output not a
terminal) on the session cluster: a malformed row, changed data for a published database,
`qserv drop`, `qserv ingest status`, row totals, progress lines, logs, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qserv.admin.demo import generate
from qserv.admin.ingest_client import STEPS
from tests.conftest import czar_connect

DB = "cliuser"


def qserv(*args, stdin=subprocess.DEVNULL):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("QSERV_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "qserv.admin.cli", *args], capture_output=True,
                          text=True, timeout=600, env=env, stdin=stdin)


def no_traceback(proc):
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A small catalog whose Object.csv line 5 has a missing field (a malformed row)."""
    d = tmp_path_factory.mktemp("cli-user")
    spec = generate(d / "data", n_objects=300, name=DB)
    lines = (d / "data" / "Object.csv").read_text().splitlines(keepends=True)
    lines[4] = ",".join(lines[4].split(",")[:-1]) + "\n"
    (d / "data" / "Object.csv").write_text("".join(lines))
    return d, spec


def test_version_and_exit_codes(cluster, tmp_path):
    proc = qserv("--version")
    assert proc.returncode == 0 and re.fullmatch(r"qserv \d+\.\d+\.\d+\n", proc.stdout), proc
    help_text = qserv("--help").stdout
    assert "exit codes" in help_text and "2  usage" in help_text
    assert qserv("no-such-command").returncode == 2            # usage
    assert qserv("load").returncode == 2                       # a missing argument
    missing = qserv("status", "--dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 1, missing                    # failure, one line
    no_traceback(missing)
    bad_manifest = qserv("ingest", str(tmp_path), "--dir", str(cluster.root))
    assert bad_manifest.returncode == 1 and "no manifest" in bad_manifest.stdout + bad_manifest.stderr


def test_malformed_row_names_file_and_line(cluster, data):
    d, spec = data
    proc = qserv("load", str(spec), "--dir", str(cluster.root))
    assert proc.returncode == 1
    no_traceback(proc)
    assert "Object.csv, line 5: malformed row" in proc.stderr, proc.stderr
    assert "--rejects FILE" in proc.stderr


def test_a_value_that_does_not_fit_its_column(cluster, data, tmp_path):
    """A row with the right fields but a value MariaDB refuses: the error names the table,
    the column and the value, and no temporary file that is gone."""
    d, spec = data
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in (d / "data").iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    lines = (bad / "Object.csv").read_text().splitlines(keepends=True)
    lines[4] = lines[4].rstrip("\n") + ',"x"\n'                 # the fixture's missing field
    fields = lines[3].split(",")
    fields[3] = "x1"                                            # uMag, a DOUBLE
    lines[3] = ",".join(fields)
    (bad / "Object.csv").write_text("".join(lines))
    proc = qserv("load", str(bad / "spec.json"), "--dir", str(cluster.root), "--quiet")
    assert proc.returncode == 1, proc.stdout
    no_traceback(proc)
    assert "Incorrect double value: 'x1'" in proc.stderr and "uMag" in proc.stderr, proc.stderr
    assert "qserv-load-" not in proc.stderr and "partitioned Object/chunk_" in proc.stderr


def test_load_with_rejects_plain_progress_and_totals(cluster, data):
    """`--rejects` (which the error suggests) loads the other rows; the progress output is
    plain lines (no bar fragments, no `?` rate) and every total counts the same rows."""
    d, spec = data
    rejects = d / "rejects.tsv"
    proc = qserv("load", str(spec), "--dir", str(cluster.root), "--rejects", str(rejects))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    no_traceback(proc)
    assert rejects.read_text().startswith(f"Object\t{d / 'data' / 'Object.csv'}\t5\tmalformed row")
    out = proc.stdout
    assert "\r" not in out and "?" not in out and "━" not in out, out
    loaded = [ln for ln in out.splitlines() if ln.startswith(f"loaded {DB}")]
    assert len(loaded) == 1, out                               # on a line of its own
    for line in out.splitlines():
        assert line.startswith(("partition ", f"{DB} ", f"loaded {DB}", "set aside in")), line
    assert re.search(rf"{DB} chunks \+ tables: (\d+)/\1 done", out), out
    with czar_connect(cluster, DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM Object")
        objects = cur.fetchone()[0]
    assert f"Object {objects} rows" in loaded[0]
    assert "set aside in" in out and "Object 1 rows" in out

    # `qserv ingest` of the same catalog: its announced rows, the loaded rows and the status's
    # committed rows agree, overlap rows counted apart everywhere
    out_dir = d / "part-same"
    part = qserv("partition", "-c", str(spec), "-o", str(out_dir), "--rejects", str(d / "r2.tsv"))
    assert part.returncode == 0, part.stderr
    manifest = json.loads((out_dir / "manifest.json").read_text())
    rows = sum(t["rows_out"] for t in manifest["tables"].values())
    overlap = sum(t["overlap_rows"] for t in manifest["tables"].values())
    again = qserv("ingest", str(out_dir), DB, "--dir", str(cluster.root))
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{rows:,} rows (and {overlap:,} overlap rows)" in again.stdout
    assert "already published (with this data): validating only" in again.stdout


def test_changed_data_into_a_published_database_is_refused(cluster, data):
    d, spec = data
    changed = d / "part-changed"
    proc = qserv("partition", "-c", str(spec), "-o", str(changed), "--rejects", str(d / "r3.tsv"))
    assert proc.returncode == 0
    chunk = sorted((changed / "Source").glob("chunk_*.csv"))[0]
    text = chunk.read_text().splitlines(keepends=True)
    (changed / "Source" / chunk.name).write_text("".join(text[:-1]))   # a row fewer
    manifest = json.loads((changed / "manifest.json").read_text())
    entry = manifest["tables"]["Source"]["chunks"][chunk.stem.split("_")[1]]
    entry["rows"] -= 1
    entry.pop("row_checksum", None)
    entry.pop("checksum", None)
    (changed / "manifest.json").write_text(json.dumps(manifest))
    proc = qserv("ingest", str(changed), DB, "--dir", str(cluster.root))
    assert proc.returncode == 1, proc.stdout
    no_traceback(proc)
    assert f"{DB} is published and holds other data" in proc.stdout
    assert f"qserv drop {DB} --yes" in proc.stdout

    # resuming an unpublished ingest with other data is refused too (its committed chunks
    # and the new ones would mix): steps as the Argo workflow runs them, stopped after load
    other = f"{DB}_resume"
    for step in ("register", "queue", "allocate", "load"):
        run = qserv("ingest", str(d / "part-same"), other, "--step", step, "--dir", str(cluster.root))
        assert run.returncode == 0, run.stdout + run.stderr
    proc = qserv("ingest", str(changed), other, "--dir", str(cluster.root))
    assert proc.returncode == 1 and f"{other} has chunks committed by an ingest of other data" \
        in proc.stdout, proc.stdout
    assert qserv("ingest", str(d / "part-same"), other, "--dir", str(cluster.root)).returncode == 0
    assert qserv("drop", other, "--yes", "--dir", str(cluster.root)).returncode == 0


def test_ingest_status_lists_steps_in_order_without_temporary_paths(cluster, data):
    proc = qserv("ingest", "status", DB, "--dir", str(cluster.root))
    assert proc.returncode == 0, proc.stderr
    steps = [m.group(1) for m in re.finditer(r"^\s+step (\w+)", proc.stdout, re.M)]
    assert steps == [s for s in STEPS if s in steps] and len(steps) == len(STEPS), proc.stdout
    for path in re.findall(r"(/[^\s\"]+manifest\.json)", proc.stdout):
        assert Path(path).exists(), f"status points at a removed file: {path}"


def test_logs_stay_quiet(cluster, data):
    """`qserv status` probes the czar's port: no traceback in czar.log for it; an ingest
    creates tables that may exist: no warning per table in the worker logs."""
    logs = cluster.root / "logs"
    before = (logs / "czar.log").read_text().count("Traceback")
    for _ in range(3):
        qserv("status", "--dir", str(cluster.root))
    assert (logs / "czar.log").read_text().count("Traceback") == before
    for log in logs.glob("worker*.log"):
        if "mariadb" in log.name:
            continue
        text = log.read_text()
        assert "already exists" not in text and "database exists" not in text, log


def test_drop(cluster, data):
    refused = qserv("drop", DB, "--dir", str(cluster.root))
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert qserv("drop", "no_such_db", "--yes", "--dir", str(cluster.root)).returncode == 1
    proc = qserv("drop", DB, "--yes", "--dir", str(cluster.root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with czar_connect(cluster, None) as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        assert DB not in {r[0] for r in cur.fetchall()}
    assert "not registered" in qserv("ingest", "status", DB, "--dir", str(cluster.root)).stdout


def test_demo_on_a_cluster_of_its_own(tmp_path):
    """The README's first command after install: `qserv demo` starts a cluster, generates,
    loads (partition + ingest, plain progress lines off a terminal) and queries."""
    from tests.conftest import BASE_PORT
    root = tmp_path / "demo-cluster"
    try:
        proc = qserv("demo", "--dir", str(root), "--workers", "1", "--objects", "300",
                     "--port", str(BASE_PORT + 1005), "--base-port", str(BASE_PORT + 320),
                     "--no-password")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        no_traceback(proc)
        assert "SELECT COUNT(*) FROM Object\n  -> ((300,),)" in proc.stdout, proc.stdout
        assert "\r" not in proc.stdout and "━" not in proc.stdout
    finally:
        qserv("down", "--dir", str(root))
