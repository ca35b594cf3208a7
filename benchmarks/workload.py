"""The query classes of workload.yaml and their parameter draws.

A `Query` is one drawn instance: the SQL for the czar and the SQL for the baseline (the same
text unless the class gives a `baseline` template). Draws come from a seeded generator, so a
run's queries are the same for the same seed and catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from benchmarks.catalog import OBJECT_ID0, draw_point

WORKLOAD = Path(__file__).with_name("workload.yaml")


@dataclass
class QueryClass:
    name: str
    title: str
    sql: str
    baseline: str
    params: dict

    @property
    def kind(self) -> str:
        return self.name[:2]         # LV or HV


@dataclass
class Query:
    cls: str
    sql: str
    baseline: str


def load(path: Path = WORKLOAD) -> tuple[dict[str, QueryClass], dict]:
    """The classes (in file order) and the mixed-load section."""
    raw = yaml.safe_load(Path(path).read_text())
    classes = {}
    for name, c in raw["classes"].items():
        sql = " ".join(c["sql"].split())
        classes[name] = QueryClass(name, c.get("title", name), sql,
                                   " ".join(c.get("baseline", sql).split()), c.get("params") or {})
    return classes, raw.get("mixed", {})


def draw_values(params: dict, rng: np.random.Generator, n_objects: int) -> dict:
    values: dict = {}
    for name, how in params.items():
        kind, *args = [how] if isinstance(how, str) else how
        if kind == "object_id":
            values[name] = OBJECT_ID0 + 7 * int(rng.integers(0, n_objects))
        elif kind == "int":
            values[name] = int(rng.integers(args[0], args[1] + 1))
        elif kind == "uniform":
            values[name] = round(float(rng.uniform(args[0], args[1])), 4)
        elif kind == "box":
            side = float(rng.uniform(args[0], args[1]))
            ra, dec = draw_point(rng)
            dec = min(max(dec, -89.0 + side), 89.0 - side)
            values.update(ra0=round((ra - side / 2) % 360.0, 5), ra1=round((ra + side / 2) % 360.0, 5),
                          dec0=round(dec - side / 2, 5), dec1=round(dec + side / 2, 5))
            values["ra_op"] = "AND" if values["ra0"] <= values["ra1"] else "OR"
        else:
            raise ValueError(f"workload.yaml: parameter {name}: unknown draw {kind!r}")
    return values


def draw(cls: QueryClass, rng: np.random.Generator, n_objects: int) -> Query:
    v = draw_values(cls.params, rng, n_objects)
    return Query(cls.name, cls.sql.format(**v), cls.baseline.format(**v))
