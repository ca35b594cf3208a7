"""The original Qserv partitioner's configs (sph-partition JSON, as in the `partition/*.json` of
its integration cases) read as a DatabaseSpec, so `qserv partition -c Object.json` works on
them.

Those configs nest sph-partition's dotted options (`part.pos` is {"part": {"pos": ...}}); one
table per file, the settings shared by all tables in a `common.json` next to them, and a later
file overrides an earlier one (as sph-partition's repeated --config-file). For example:

    common.json: {"dirDb": "qcase01", "part": {"num-stripes": 85, "num-sub-stripes": 12,
                  "default-overlap": 0.01667}, "in": {"csv": {"delimiter": "\\t", "null": "\\\\N"}}}
    Object.json: {"id": "objectId", "part": {"pos": "ra_PS, decl_PS", "overlap": 0.01667},
                  "in": {"csv": {"field": ["objectId", "ra_PS", "decl_PS", ...]}}}
    Source.json: {"part": {"id": "objectId", "pos": "raObject, declObject"}, "dirTable": "Object",
                  "in": {"csv": {"field": [...]}}}
    -> DatabaseSpec(name="qcase01", chunk_order=5, subchunk_bits=3, tables=[
         Object: director, ra ra_PS, dec decl_PS, key objectId, overlap 0.01667
         Source: child of Object by objectId (raObject/declObject place rows without one)])

Mapping: a table with `part.pos` and no `dirTable` other than itself is a director (its key:
`id`, else `dirColName`); one with `dirTable` naming another table is its child, joined by
`part.id` (else `dirColName`); one without positions is replicated. The files have no header
line (`in.csv.field` names the columns), so `header` defaults to false. Chunking is HEALPix
here, the original's is stripes: `num-stripes` S gives chunks of about 180/S degrees and
`num-sub-stripes` N sub-chunks N times smaller, and the HEALPix orders with the nearest pixel
sizes are taken (85 and 12: chunk_order 5, subchunk_bits 3). Column types come from the
table's CREATE TABLE file when one sits where the integration cases keep it
(`../schema/<Table>.schema`); without it every column is TEXT.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from qserv.catalog import CHILD, DIRECTOR, REPLICATED, ColumnSpec, DatabaseSpec, TableSpec

COMMON = "common.json"
# sph-partition's input defaults (what `mysqldump --tab` writes): tab-separated, backslash
# escapes, \N for NULL, '"' quotes; and no header line.
SPH_CSV_DEFAULTS = {"delimiter": "\t", "escape": "\\", "null": "\\N", "quote": '"'}
# sph-partition's `in.csv.*` option -> our CSV dialect key
_CSV_KEYS = {"delimiter": "delimiter", "null": "null", "escape": "escape", "quote": "quote"}


def is_sph_config(raw: dict) -> bool:
    """Whether a parsed JSON config is in sph-partition's format (not a DatabaseSpec)."""
    return "tables" not in raw and any(k in raw for k in ("part", "in", "dirTable", "dirColName"))


def merge(base: dict, over: dict) -> dict:
    """`over` on top of `base`, nested objects merged key by key."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def healpix_order(size_deg: float) -> int:
    """The HEALPix order whose pixels (sqrt of 4*pi/(12*4^k) sr) are nearest `size_deg` wide
    (nearest on a log scale)."""
    base = math.degrees(math.sqrt(4 * math.pi / 12))      # order 0: ~58.6 deg
    return max(0, min(13, round(math.log2(base / size_deg))))


def read_configs(paths: list[str | Path], *, table: str | None = None,
                 database: str | None = None) -> DatabaseSpec:
    """One table's spec from sph-partition config files (a sibling common.json is read first
    when not among them). `table` names it (default: the last file's name, e.g. Object)."""
    paths = [Path(p) for p in paths]
    common = paths[-1].parent / COMMON
    if common.exists() and not any(p.name == COMMON for p in paths):
        paths = [common] + paths
    raw: dict = {}
    for p in paths:
        try:
            raw = merge(raw, json.loads(p.read_text()))
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}: not JSON ({e})") from e
    name = table or paths[-1].stem
    if name == Path(COMMON).stem:
        raise ValueError(f"{COMMON} holds the shared settings; give a table's config too")
    return DatabaseSpec(name=database or raw.get("dirDb") or "db", tables=_tables(raw, name, paths[-1]),
                        source_dir=str(paths[-1].parent.resolve()), **_chunking(raw))


def _tables(raw: dict, name: str, config: Path) -> list[TableSpec]:
    part = raw.get("part") or {}
    csv_in = (raw.get("in") or {}).get("csv") or {}
    fields = csv_in.get("field") or []
    if not fields:
        raise ValueError(f"{config}: no in.csv.field (the input's column names)")
    columns = _column_types(config, name, fields)
    dialect = {**SPH_CSV_DEFAULTS,
               **{ours: csv_in[theirs] for theirs, ours in _CSV_KEYS.items() if theirs in csv_in}}
    if csv_in.get("no-quote"):
        dialect["quote"] = None
    if csv_in.get("no-escape"):
        dialect["escape"] = None
    dialect["header"] = bool(csv_in.get("header", False))
    ra, dec = _pos(part.get("pos"), config)
    director = raw.get("dirTable") or name
    data = [str(p) for p in _list(csv_in.get("path") or (raw.get("in") or {}).get("path"))]
    common = dict(columns=columns, csv=dialect, data=data)
    if director != name:
        key = part.get("id") or raw.get("dirColName")
        if not key:
            raise ValueError(f"{config}: child of {director} without part.id (its director's key)")
        stand_in = TableSpec(name=director, role=DIRECTOR, columns=[ColumnSpec(key, "TEXT")],
                             ra=key, dec=key, director_key=key)   # named only; partitioned alone
        return [TableSpec(name=name, role=CHILD, director_table=director, director_key=key,
                          ra=ra, dec=dec, **common), stand_in]
    if ra is None:
        return [TableSpec(name=name, role=REPLICATED, **common)]
    key = raw.get("id") or raw.get("dirColName")
    if not key:
        raise ValueError(f"{config}: director {name} without id (its key column)")
    overlap = part.get("overlap", part.get("default-overlap"))
    return [TableSpec(name=name, role=DIRECTOR, ra=ra, dec=dec, director_key=key,
                      overlap=float(overlap) if overlap is not None else None, **common)]


def _chunking(raw: dict) -> dict:
    part = raw.get("part") or {}
    out: dict = {}
    if part.get("default-overlap") is not None:
        out["overlap_deg"] = float(part["default-overlap"])
    stripes = part.get("num-stripes")
    if stripes:
        out["chunk_order"] = healpix_order(180.0 / float(stripes))
        subs = part.get("num-sub-stripes")
        if subs:
            fine = healpix_order(180.0 / float(stripes) / float(subs))
            out["subchunk_bits"] = max(0, fine - out["chunk_order"])
    return out


def _pos(value, config: Path) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    names = [x.strip() for x in (value if isinstance(value, list) else value.split(","))]
    if len(names) != 2 or not all(names):
        raise ValueError(f"{config}: part.pos must name two columns (ra, dec), not {value!r}")
    return names[0], names[1]


def _list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def _column_types(config: Path, table: str, fields: list[str]) -> list[ColumnSpec]:
    schema = config.parent.parent / "schema" / f"{table}.schema"
    types: dict[str, str] = {}
    if schema.exists():
        from qserv.catalog import columns_from_ddl
        types = {c.name: c.type for c in columns_from_ddl(schema.read_text())}
    return [ColumnSpec(f, types.get(f, "TEXT")) for f in fields]
