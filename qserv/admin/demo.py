"""A small synthetic sky catalog for demos, tests and benchmarks (deterministic per seed).

Object (director) with positions in a patch that straddles RA 0 (so wrap-around is always
exercised), magnitudes with some NULLs and flags; several Source rows (child) per Object;
a replicated Filter table. Written as CSV files plus the `DatabaseSpec` JSON that
`qserv load` reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from qserv.catalog import ColumnSpec, DatabaseSpec, TableSpec

FILTERS = [(0, "u", 3751.0), (1, "g", 4741.0), (2, "r", 6173.0), (3, "i", 7501.0),
           (4, "z", 8679.0), (5, "y", 9711.0)]


def demo_spec(name: str = "demo", chunk_order: int = 5) -> DatabaseSpec:
    col = ColumnSpec
    return DatabaseSpec(name=name, chunk_order=chunk_order, subchunk_bits=3, tables=[
        TableSpec(name="Object", role="director", ra="ra", dec="decl", director_key="objectId",
                  primary_key=["objectId"], indexes=[["decl"]], data=["Object.csv"], columns=[
                      col("objectId", "BIGINT NOT NULL"), col("ra", "DOUBLE NOT NULL"),
                      col("decl", "DOUBLE NOT NULL"), col("uMag", "DOUBLE NULL"),
                      col("gMag", "DOUBLE NULL"), col("rMag", "DOUBLE NULL"),
                      col("iMag", "DOUBLE NULL"), col("flags", "INT NOT NULL"),
                      col("extendedness", "TINYINT NULL"), col("name", "VARCHAR(32) NULL")]),
        TableSpec(name="Source", role="child", director_key="objectId", director_table="Object",
                  ra="ra", dec="decl",   # its own position, near its Object's (not a copy)
                  primary_key=["sourceId"], indexes=[["objectId"]], data=["Source.csv"], columns=[
                      col("sourceId", "BIGINT NOT NULL"), col("objectId", "BIGINT NOT NULL"),
                      col("filterId", "TINYINT NOT NULL"), col("ra", "DOUBLE NOT NULL"),
                      col("decl", "DOUBLE NOT NULL"), col("mjd", "DOUBLE NOT NULL"),
                      col("psfFlux", "DOUBLE NULL"), col("psfFluxErr", "DOUBLE NULL")]),
        TableSpec(name="Filter", role="replicated", primary_key=["filterId"], data=["Filter.csv"],
                  columns=[col("filterId", "TINYINT NOT NULL"), col("filterName", "CHAR(1) NOT NULL"),
                           col("photClam", "DOUBLE NOT NULL")]),
    ])


def generate(out_dir: str | Path, n_objects: int = 20_000, sources_per_object: int = 4,
             seed: int = 42, name: str = "demo", chunk_order: int = 5,
             ra_range: tuple[float, float] = (-20.0, 20.0),
             dec_range: tuple[float, float] = (-15.0, 15.0), pole_objects: int = 0,
             pole_cap: float = 3.0, source_offset_arcsec: float | None = None,
             far_sources: float = 0.0) -> Path:
    """Write Object.csv, Source.csv, Filter.csv and spec.json; returns the spec path.

    `pole_objects`: more objects within `pole_cap` degrees of the poles (half each).
    `source_offset_arcsec`: Sources lie at an angle drawn from a normal distribution of this
    sigma (each axis of the tangent plane) from their Object, in any direction, across the
    poles too; None: the default small offset (0.3 arcsec in ra and in decl). Either way some
    Sources lie in another chunk than their Object's (which holds them). `far_sources`: this
    fraction of the Sources (with `source_offset_arcsec`) are 30 times as far from theirs."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = n_objects
    ra = np.mod(rng.uniform(*ra_range, n), 360.0).round(7)
    # uniform on the sphere within the dec band
    s0, s1 = np.sin(np.radians(dec_range))
    decl = np.degrees(np.arcsin(rng.uniform(s0, s1, n))).round(7)
    if pole_objects > 0:   # (their own generator: the other rows stay as without them)
        prng = np.random.default_rng(seed + 7919)
        p_ra = prng.uniform(0.0, 360.0, pole_objects).round(7)
        p_dec = np.degrees(np.arcsin(prng.uniform(np.sin(np.radians(90.0 - pole_cap)), 1.0,
                                                   pole_objects))).round(7)
        p_dec[pole_objects // 2:] *= -1
        ra, decl = np.concatenate([ra, p_ra]), np.concatenate([decl, p_dec])
        n = len(ra)
    object_id = np.arange(1, n + 1, dtype=np.int64) * 10 + 3
    mags = {}
    for i, band in enumerate("ugri"):
        mag = rng.normal(22.0 - 0.3 * i, 1.5, n).round(4)
        mags[f"{band}Mag"] = pa.array(mag, mask=rng.random(n) < 0.05)
    flags = rng.integers(0, 16, n).astype(np.int32)
    ext = pa.array(rng.integers(0, 2, n).astype(np.int8), mask=rng.random(n) < 0.1)
    names = pa.array([f"obj-{i}" if i % 7 else None for i in range(n)], pa.string())
    objects = pa.table({"objectId": object_id, "ra": ra, "decl": decl, **mags, "flags": flags,
                        "extendedness": ext, "name": names})
    write_csv(objects, out / "Object.csv")

    # 1 .. 2k-1 sources per object (mean ~k); none at all when k == 0
    k = rng.integers(1, 2 * sources_per_object, n) if sources_per_object > 0 else np.zeros(n, np.int64)
    parent = np.repeat(np.arange(n), k)
    m = len(parent)
    jitter = 0.3 / 3600
    source_id = np.arange(1, m + 1, dtype=np.int64) * 100 + 7
    filter_id = rng.integers(0, 6, m).astype(np.int8)
    if source_offset_arcsec is None:
        s_ra = np.mod(ra[parent] + rng.normal(0, jitter, m), 360.0).round(8)
        s_dec = np.clip(decl[parent] + rng.normal(0, jitter, m), -90, 90).round(8)
    else:
        sigma = np.radians(source_offset_arcsec / 3600) * np.where(rng.random(m) < far_sources, 30.0, 1.0)
        s_ra, s_dec = _offset(ra[parent], decl[parent], rng.normal(0, 1, m) * sigma,
                              rng.normal(0, 1, m) * sigma)
    src = pa.table({
        "sourceId": source_id,
        "objectId": object_id[parent],
        "filterId": filter_id,
        "ra": s_ra,
        "decl": s_dec,
        "mjd": rng.uniform(60000.0, 61000.0, m).round(6),
        "psfFlux": pa.array(rng.lognormal(3.0, 1.0, m).round(5), mask=rng.random(m) < 0.03),
        "psfFluxErr": pa.array(rng.uniform(0.1, 2.0, m).round(5), mask=rng.random(m) < 0.03),
    })
    write_csv(src, out / "Source.csv")
    write_csv(pa.table({"filterId": pa.array([f[0] for f in FILTERS], pa.int8()),
                        "filterName": [f[1] for f in FILTERS],
                        "photClam": [f[2] for f in FILTERS]}), out / "Filter.csv")
    spec = demo_spec(name, chunk_order)
    path = out / "spec.json"
    path.write_text(spec.to_json() + "\n")
    return path


def _offset(ra, dec, east, north):
    """Positions moved by small angles (radians) east and north in the tangent plane at each
    (ra, dec) in degrees: through a pole as on the sky, not clipped."""
    a, d = np.radians(ra), np.radians(dec)
    v = np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)])
    e = np.stack([-np.sin(a), np.cos(a), np.zeros_like(a)])
    n = np.stack([-np.sin(d) * np.cos(a), -np.sin(d) * np.sin(a), np.cos(d)])
    w = v + e * east + n * north
    w /= np.linalg.norm(w, axis=0)
    out_ra = np.mod(np.degrees(np.arctan2(w[1], w[0])), 360.0).round(8)
    out_dec = np.degrees(np.arcsin(np.clip(w[2], -1.0, 1.0))).round(8)
    return np.where(out_ra >= 360.0, 0.0, out_ra), out_dec


def write_csv(table: pa.Table, path: Path) -> None:
    pacsv.write_csv(table, path, pacsv.WriteOptions(null_string="\\N", quoting_style="needed"))
