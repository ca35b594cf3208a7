"""A seeded DP0-like synthetic catalog for the harness: Object (director) and Source (child,
~10 per Object), written as CSV plus the DatabaseSpec JSON that `qserv partition -c` reads.

The sky has three parts so that the classes meet what a real survey has:
- "wide": a band across RA 0 (RA -25..25, Dec -12..12), so every scan crosses the RA wrap;
- "dense": a Gaussian clump inside the wide band (a crowded field: chunks much fuller than
  their neighbours, the case that unbalances workers);
- "sparse": a far field (RA 60..80, Dec -35..-25) at a few times lower density.
Columns follow DP0's names (coord_ra/coord_dec, <band>_psfFlux, psfFlux of a source...).
Sources sit within ~0.1" of their object; 1% are outliers 3-10" away (HV7 finds them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from qserv.catalog import ColumnSpec, DatabaseSpec, TableSpec

# (name, ra0, ra1, dec0, dec1) of the rectangles regions are drawn in (RA may start < 0: wrap)
FOOTPRINT = [("wide", -25.0, 25.0, -12.0, 12.0), ("sparse", 60.0, 80.0, -35.0, -25.0)]
DENSE = (8.0, -4.0, 1.5)        # centre ra, dec and sigma (deg) of the clump
WEIGHTS = {"wide": 0.70, "dense": 0.22, "sparse": 0.08}
OBJECT_ID0 = 1_000_000_000_000  # DP0-like large positive ids
SOURCE_ID0 = 5_000_000_000_000


@dataclass
class Catalog:
    """What `generate` wrote: the spec path and the sizes the report quotes."""
    name: str
    spec_path: Path
    objects: int
    sources: int
    bytes: int
    chunk_order: int

    def as_dict(self) -> dict:
        return {"name": self.name, "objects": self.objects, "sources": self.sources,
                "csv_mb": round(self.bytes / 1e6, 1), "chunk_order": self.chunk_order}


def spec(name: str, chunk_order: int) -> DatabaseSpec:
    col = ColumnSpec
    return DatabaseSpec(name=name, chunk_order=chunk_order, subchunk_bits=3, tables=[
        TableSpec(name="Object", role="director", ra="coord_ra", dec="coord_dec",
                  director_key="objectId", primary_key=["objectId"],
                  indexes=[["coord_dec", "coord_ra"]], data=["Object.csv"], columns=[
                      col("objectId", "BIGINT NOT NULL"), col("coord_ra", "DOUBLE NOT NULL"),
                      col("coord_dec", "DOUBLE NOT NULL"), col("g_psfFlux", "DOUBLE NULL"),
                      col("r_psfFlux", "DOUBLE NULL"), col("i_psfFlux", "DOUBLE NULL"),
                      col("g_mag", "DOUBLE NULL"), col("r_mag", "DOUBLE NULL"),
                      col("i_mag", "DOUBLE NULL"), col("extendedness", "TINYINT NULL"),
                      col("detect_isPrimary", "TINYINT NOT NULL")]),
        TableSpec(name="Source", role="child", director_key="objectId", director_table="Object",
                  primary_key=["sourceId"], indexes=[["objectId"]], data=["Source.csv"], columns=[
                      col("sourceId", "BIGINT NOT NULL"), col("objectId", "BIGINT NOT NULL"),
                      col("band", "TINYINT NOT NULL"), col("coord_ra", "DOUBLE NOT NULL"),
                      col("coord_dec", "DOUBLE NOT NULL"), col("midpointMjdTai", "DOUBLE NOT NULL"),
                      col("psfFlux", "DOUBLE NULL"), col("psfFluxErr", "DOUBLE NULL")]),
    ])


def _uniform_box(rng, n: int, ra0: float, ra1: float, dec0: float, dec1: float):
    """n points uniform on the sphere inside a box (RA in [0, 360))."""
    s0, s1 = np.sin(np.radians([dec0, dec1]))
    dec = np.degrees(np.arcsin(rng.uniform(s0, s1, n)))
    return np.mod(rng.uniform(ra0, ra1, n), 360.0), dec


def positions(rng, n: int):
    parts = rng.choice(3, n, p=[WEIGHTS["wide"], WEIGHTS["dense"], WEIGHTS["sparse"]])
    ra, dec = np.empty(n), np.empty(n)
    for k, (_, a0, a1, d0, d1) in zip((0, 2), FOOTPRINT):
        m = parts == k
        ra[m], dec[m] = _uniform_box(rng, int(m.sum()), a0, a1, d0, d1)
    m = parts == 1
    cra, cdec, sigma = DENSE
    dec[m] = np.clip(rng.normal(cdec, sigma, m.sum()), -11.9, 11.9)
    ra[m] = np.mod(cra + rng.normal(0, sigma, m.sum()) / np.cos(np.radians(dec[m])), 360.0)
    return ra.round(8), dec.round(8)


def generate(out_dir: Path, name: str, n_objects: int, seed: int, chunk_order: int = 5,
             sources_per_object: float = 10.0) -> Catalog:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = n_objects
    ids = OBJECT_ID0 + np.arange(n, dtype=np.int64) * 7
    ra, dec = positions(rng, n)
    r = rng.normal(23.0, 1.3, n)
    g = r + rng.normal(0.5, 0.4, n)
    i = r - rng.normal(0.3, 0.3, n)

    def flux(mag):        # nJy, as DP0
        return 10 ** ((31.4 - mag) / 2.5)

    def nullable(a, frac):
        return pa.array(a, mask=rng.random(n) < frac)

    objects = pa.table({
        "objectId": ids, "coord_ra": ra, "coord_dec": dec,
        "g_psfFlux": nullable(flux(g).round(3), 0.02), "r_psfFlux": nullable(flux(r).round(3), 0.02),
        "i_psfFlux": nullable(flux(i).round(3), 0.02),
        "g_mag": nullable(g.round(4), 0.03), "r_mag": nullable(r.round(4), 0.03),
        "i_mag": nullable(i.round(4), 0.03),
        "extendedness": nullable(rng.integers(0, 2, n).astype(np.int8), 0.1),
        "detect_isPrimary": (rng.random(n) < 0.95).astype(np.int8)})
    _write(objects, out / "Object.csv")

    k = rng.poisson(sources_per_object, n)
    parent = np.repeat(np.arange(n), k)
    m = len(parent)
    jitter = np.where(rng.random(m) < 0.01, rng.uniform(3, 10, m), rng.normal(0, 0.1, m)) / 3600
    angle = rng.uniform(0, 2 * np.pi, m)
    sdec = np.clip(dec[parent] + jitter * np.sin(angle), -90, 90)
    sra = np.mod(ra[parent] + jitter * np.cos(angle) / np.cos(np.radians(sdec)), 360.0)
    sources = pa.table({
        "sourceId": SOURCE_ID0 + np.arange(m, dtype=np.int64) * 3,
        "objectId": ids[parent], "band": rng.integers(0, 6, m).astype(np.int8),
        "coord_ra": sra.round(9), "coord_dec": sdec.round(9),
        "midpointMjdTai": rng.uniform(59580.0, 61400.0, m).round(6),
        "psfFlux": pa.array(rng.lognormal(7.0, 1.2, m).round(3), mask=rng.random(m) < 0.02),
        "psfFluxErr": pa.array(rng.uniform(5, 50, m).round(3), mask=rng.random(m) < 0.02)})
    _write(sources, out / "Source.csv")
    path = out / "spec.json"
    path.write_text(spec(name, chunk_order).to_json() + "\n")
    size = sum((out / f).stat().st_size for f in ("Object.csv", "Source.csv"))
    return Catalog(name, path, n, m, size, chunk_order)


def _write(table: pa.Table, path: Path) -> None:
    pacsv.write_csv(table, path, pacsv.WriteOptions(null_string="\\N", quoting_style="needed"))


def draw_point(rng) -> tuple[float, float]:
    """A point uniform over the footprint's area (the wide band and the sparse field)."""
    areas = [(a1 - a0) * (np.sin(np.radians(d1)) - np.sin(np.radians(d0)))
             for _, a0, a1, d0, d1 in FOOTPRINT]
    k = rng.choice(len(FOOTPRINT), p=np.array(areas) / sum(areas))
    _, a0, a1, d0, d1 = FOOTPRINT[k]
    ra, dec = _uniform_box(rng, 1, a0, a1, d0, d1)
    return float(ra[0]), float(dec[0])
