"""`qserv partition`: arguments and the command (registered by qserv/admin/cli.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
Split a catalog into HEALPix chunks (DESIGN §3): for every partitioned table one file per
chunk, `OUT/<Table>/chunk_<id>.csv` (or .parquet) with the columns `chunkId` and
`subChunkId` added; for director tables also `chunk_<id>_overlap.*` (rows of neighbouring
chunks within the overlap radius, for near-neighbour joins) and the director index
`OUT/<Table>/index.*` (key -> chunkId, subChunkId); replicated tables as one file
`OUT/<Table>/<Table>.*`; and `OUT/manifest.json` (parameters, columns, per-chunk row and
overlap counts, checksums, input files and their row counts).

Child rows go to the chunk of their director row (looked up by the director key), so
director-child joins stay inside a chunk. A row that cannot be placed for sure (malformed
line, ra/dec missing or out of range, NULL key, child without director) stops the run with the
file and line, unless --rejects FILE is given.

Tables are described by a config, the same JSON/YAML `qserv load` reads: {"name": DB,
"chunk_order": 7, "subchunk_bits": 3, "overlap_deg": 0.01667, "tables": [{"name": "Object",
"role": "director", "ra": "ra", "dec": "decl", "director_key": "objectId", "data":
["Object*.csv.gz"], "columns": [...] or "schema": "Object.sql", "csv": {"delimiter": ",",
"header": true, "null": "\\\\N", "quote": "\\"", "escape": null}, "overlap": ...}, {"name":
"Source", "role": "child", "director_table": "Object", "director_key": "objectId", ...},
{"name": "Filter", "role": "replicated", ...}]}. Without a config, one table is described by
the flags below (--table, --role, --ra, --dec, --key, ... and input paths).
CSV output is ready for LOAD DATA: comma-separated, every value in double quotes, NULL bare.
"""


def add_parser(sub) -> argparse.ArgumentParser:
    sp = sub.add_parser("partition", help="split CSV/TSV/Parquet catalogs into HEALPix chunk files",
                        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("inputs", nargs="*", help="input files or globs (CSV, TSV, .gz, Parquet); with a "
                    "config, they replace the `data` of the one table chosen with --table")
    sp.add_argument("-c", "--config", action="append", default=[],
                    help="catalog config: a `qserv load` spec (JSON or YAML), or the original "
                         "Qserv's sph-partition JSON (one table; repeat -c to merge files, later "
                         "ones override; a common.json next to it is read first)")
    sp.add_argument("-o", "--out", required=True, help="output directory (must be empty, or --force)")
    sp.add_argument("-j", "--jobs", type=int, default=1,
                    help="worker processes; input is split into pieces of --piece-mb (default 1)")
    sp.add_argument("--format", choices=("csv", "parquet"), default="csv",
                    help="output files: csv (LOAD DATA ready) or parquet (default csv)")
    sp.add_argument("--rejects", metavar="FILE", help="write rows that cannot be placed to FILE "
                    "(table, file, line, reason, row; tab-separated) instead of stopping")
    sp.add_argument("--dry-run", action="store_true",
                    help="write nothing; print the chunk histogram (rows and overlap rows per chunk)")
    sp.add_argument("--piece-mb", type=int, default=32,
                    help="input bytes per block read (default 32; with -j > 1 a task is up to 4 "
                         "blocks, about two tasks per worker); peak memory per process is about "
                         "150 MB plus 14x this (a block, its output, the output still being "
                         "written)")
    sp.add_argument("--force", action="store_true", help="replace the output directory's content")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--tables", help="comma-separated tables of the config to partition (default all)")
    sp.add_argument("--director-index", action="append", default=[], metavar="TABLE=DIR",
                    help="where the index of a director partitioned in an earlier run is "
                         "(its OUT/<Table> directory), for children partitioned alone")
    g = sp.add_argument_group("chunking (override the config)")
    g.add_argument("--chunk-order", type=int, help="HEALPix order of chunks (default 5; ~7 for "
                   "large catalogs: 196608 chunks of 0.21 deg2)")
    g.add_argument("--subchunk-bits", type=int, help="sub-chunks: order chunk_order + this (default 3)")
    g.add_argument("--overlap", type=float, help="overlap radius in degrees for directors "
                   "(default 0.01667 = 1 arcmin; 0 = none)")
    g = sp.add_argument_group("one table without a config")
    g.add_argument("--database", default="db", help="database name written to the manifest")
    g.add_argument("--table", help="table name (with a config: the table the inputs belong to)")
    g.add_argument("--role", choices=("director", "child", "replicated"), default="director",
                   help="director (has positions), child (placed by its director), replicated")
    g.add_argument("--ra", help="director: right ascension column (degrees)")
    g.add_argument("--dec", help="director: declination column (degrees)")
    g.add_argument("--key", help="director: its object id column; child: the column holding "
                   "the director's id")
    g.add_argument("--director-table", help="child: the director table's name")
    g.add_argument("--columns", help="comma-separated column names (files without a header)")
    g = sp.add_argument_group("CSV input (override the config)")
    g.add_argument("--delimiter", help="field separator, e.g. ',' or '\\t' (default ',')")
    g.add_argument("--no-header", action="store_true", help="files have no header line (the "
                   "default with sph-partition configs)")
    g.add_argument("--header", action="store_true", help="files start with a header line (the "
                   "default with our specs and without a config)")
    g.add_argument("--null", help="the token for NULL (default \\N)")
    g.add_argument("--quote", help="quote character (default \")")
    g.add_argument("--no-quote", action="store_true", help="values are never quoted")
    g.add_argument("--escape", choices=("\\",), help="backslash escapes as MySQL writes them "
                   "(mysqldump --tab): \\t \\n \\0 \\\\ ... and \\N for NULL")
    sp.set_defaults(func=run)
    return sp


def _dialect_overrides(args) -> dict:
    d = {}
    if args.delimiter is not None:
        d["delimiter"] = args.delimiter.encode().decode("unicode_escape")
    if args.no_header:
        d["header"] = False
    elif getattr(args, "header", False):
        d["header"] = True
    if args.null is not None:
        d["null"] = args.null
    if args.no_quote:
        d["quote"] = None
    elif args.quote is not None:
        d["quote"] = args.quote
    if args.escape:
        d["escape"] = args.escape
    return d


def read_config(args):
    """Our spec (one file), or the original's sph-partition configs (one table, merged)."""
    import json

    from partitioner.sph_config import is_sph_config, read_configs
    from qserv.catalog import DatabaseSpec
    paths = [Path(p) for p in args.config]
    raws = [json.loads(p.read_text()) if p.suffix.lower() == ".json" else None for p in paths]
    if any(r is not None and is_sph_config(r) for r in raws):
        if any(r is None for r in raws):
            raise ValueError("sph-partition configs are JSON; do not mix them with a YAML spec")
        spec = read_configs(paths, table=args.table,
                            database=args.database if args.database != "db" else None)
        args.table = spec.tables[0].name     # the one table: inputs and the run are its
        args.single_table = True
        return spec
    if len(paths) > 1:
        raise ValueError("give one spec (several -c files are for sph-partition configs)")
    return DatabaseSpec.read(paths[0])


def build_spec(args):
    from qserv.catalog import ColumnSpec, DatabaseSpec, TableSpec
    if args.config:
        spec = read_config(args)
    else:
        if not (args.table and args.inputs):
            raise ValueError("give a --config, or --table and input files")
        cols = [ColumnSpec(c, "TEXT") for c in (args.columns.split(",") if args.columns else [])]
        if not cols:   # names from the header of the first file
            from partitioner.dialect import CsvDialect
            from partitioner.readers import is_parquet, read_header
            import glob
            first = Path(sorted(glob.glob(args.inputs[0])) [0] if any(ch in args.inputs[0] for ch in "*?[")
                         else args.inputs[0])
            if is_parquet(first):
                import pyarrow.parquet as pq
                names = pq.ParquetFile(first).schema_arrow.names
            else:
                names = read_header(first, CsvDialect.from_spec(_dialect_overrides(args)))
            cols = [ColumnSpec(c, "TEXT") for c in names]
        spec = DatabaseSpec(name=args.database, source_dir=".", tables=[TableSpec(
            name=args.table, role=args.role, columns=cols, ra=args.ra, dec=args.dec,
            director_key=args.key, director_table=args.director_table)] + (
            [TableSpec(name=args.director_table, role="director", columns=[ColumnSpec("x", "TEXT")],
                       ra="x", dec="x", director_key="x")] if args.role == "child" else []))
    if args.chunk_order is not None:
        spec.chunk_order = args.chunk_order
    if args.subchunk_bits is not None:
        spec.subchunk_bits = args.subchunk_bits
    if args.overlap is not None:
        spec.overlap_deg = args.overlap
        for t in spec.tables:
            t.overlap = None
    overrides = _dialect_overrides(args)
    for t in spec.tables:
        if overrides:
            t.csv = {**(t.csv or {}), **overrides}
    if args.inputs:
        if args.config and not args.table:
            raise ValueError("with a config, input files need --table to say which table they are")
        t = spec.table(args.table)
        t.data = [str(Path(p).resolve()) for p in args.inputs]
    return spec


def run(args) -> int:
    from partitioner.run import Options, PartitionError, partition
    try:
        spec = build_spec(args)
        tables = args.tables.split(",") if args.tables else None
        if not args.config or getattr(args, "single_table", False):
            tables = [args.table]
        index = dict(x.split("=", 1) for x in args.director_index)
        manifest = partition(spec, Options(
            out_dir=args.out, fmt=args.format, jobs=args.jobs, piece_mb=args.piece_mb,
            rejects=args.rejects, dry_run=args.dry_run, progress=not args.quiet, tables=tables,
            director_index=index, force=args.force))
    except (PartitionError, ValueError, KeyError, FileNotFoundError) as e:
        print(f"qserv partition: {e}", file=sys.stderr)
        return 1
    for name, t in manifest["tables"].items():
        chunks = t.get("chunks") or {}
        line = (f"{name} ({t['role']}): {t['rows']:,} rows in, {t['rows_out']:,} out, "
                f"{t['rejected']:,} rejected")
        if chunks:
            counts = sorted(c["rows"] for c in chunks.values())
            line += (f"; {len(chunks)} chunks (rows per chunk min {counts[0]:,}, median "
                     f"{counts[len(counts) // 2]:,}, max {counts[-1]:,}), "
                     f"{t['overlap_rows']:,} overlap rows")
        if "position_margin" in t:   # a child with its own position: how far rows lie from their chunk
            margin = t["position_margin"]
            line += ("; position margin unknown (the director index kept no positions)" if margin is None
                     else f"; position margin {margin:.6g} deg ({margin * 3600:.3g} arcsec)")
        print(line)
        if args.dry_run and chunks:
            print(_histogram(chunks))
    print(f"done in {manifest['seconds']:.1f} s" + ("" if args.dry_run else
                                                   f"; manifest: {Path(args.out) / 'manifest.json'}"))
    return 0


def _histogram(chunks: dict, width: int = 40, top: int = 30) -> str:
    items = sorted(chunks.items(), key=lambda kv: -kv[1]["rows"])
    peak = max(1, items[0][1]["rows"])
    lines = [f"  {'chunkId':>10} {'rows':>12} {'overlap':>10}"]
    for c, e in items[:top]:
        lines.append(f"  {c:>10} {e['rows']:>12,} {e['overlap_rows']:>10,} "
                     + "#" * max(1, round(width * e["rows"] / peak)) if e["rows"] else "")
    if len(items) > top:
        lines.append(f"  ... {len(items) - top} more chunks")
    return "\n".join(lines)
