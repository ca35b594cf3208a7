"""The scisql functions as SQL: stored functions for plain MariaDB, and the same formulas as
inline SQL templates (the czar's `scisql` pass may substitute them into chunk queries).

Semantics follow scisql (github.com/smonkewitz/scisql, src/udfs): angles in degrees, ellipse
semi-axes in arcsec and position angle in degrees east of north.
- scisql_angSep(ra1, dec1, ra2, dec2): degrees, by scisql's haversine formula; NULL when an
  argument is NULL or a declination is outside [-90, 90].
- scisql_s2PtInBox/Circle/Ellipse/CPoly(ra, dec, ...): 1 inside (boundary included), 0 outside,
  0 when any argument is NULL, NULL on invalid arguments (|dec| > 90, radius outside [0, 180],
  semi-minor > semi-major, semi-major > 10 deg, ...). Box: raMin > raMax wraps through 0 when
  both are in [0, 360]. One deliberate difference: scisql's ellipse test projects on the
  tangent plane and so also accepts the antipode of the ellipse; here only the near
  hemisphere counts (as the region pruning assumes).
- scisql_fluxToAbMag(flux) = -2.5 log10(flux) - 48.6 (flux in erg/cm²/s/Hz: scisql's
  fluxToAbMag; its nanojansky variants are separate functions), NULL for flux <= 0;
  scisql_fluxToAbMagSigma(flux, sigma) = 2.5/ln(10) * sigma / flux, NULL when flux <= 0 or
  sigma < 0; scisql_abMagToFlux(mag) = 10^(-0.4 (mag + 48.6)).
- scisql_s2PtInCPoly takes a variable number of vertices, which a stored function cannot:
  the czar always writes it inline (vertices must then be literals). For one plain MariaDB
  there is scisql_s2PtInCPolyStr(ra, dec, 'ra1,dec1,ra2,dec2,...') with the same test.

MariaDB stored functions live in a database: they are installed in every user database (on
workers, in the czar's shadow and in reference databases), so an unqualified call resolves
when that database is the default one.
"""

from __future__ import annotations

from typing import Callable

# Formulas over placeholders; {x} is a parameter name or a parenthesized SQL expression.
_HAV = ("(POW(SIN(RADIANS({ra1} - {ra2}) / 2), 2) * (POW(COS(RADIANS({dec1} + {dec2}) / 2), 2)"
        " - POW(SIN(RADIANS({dec1} - {dec2}) / 2), 2)) + POW(SIN(RADIANS({dec1} - {dec2}) / 2), 2))")
ANGSEP = "DEGREES(2 * ASIN(SQRT(LEAST(1, GREATEST(0, " + _HAV + ")))))"

_V = {"x": "(COS(RADIANS({dec})) * COS(RADIANS({ra})))",
      "y": "(COS(RADIANS({dec})) * SIN(RADIANS({ra})))",
      "z": "SIN(RADIANS({dec}))"}
_XNE = ("(COS(RADIANS({dec0})) * {vz} - SIN(RADIANS({dec0})) * (SIN(RADIANS({ra0})) * {vy}"
        " + COS(RADIANS({ra0})) * {vx}))")
_YNE = "(COS(RADIANS({ra0})) * {vy} - SIN(RADIANS({ra0})) * {vx})"


def _fill(template: str, **args: str) -> str:
    return template.format(**args)


def angsep_sql(ra1: str, dec1: str, ra2: str, dec2: str) -> str:
    return _fill(ANGSEP, ra1=ra1, dec1=dec1, ra2=ra2, dec2=dec2)


def circle_test_sql(ra, dec, ra0, dec0, r) -> str:
    """The exact test once arguments are known valid and non-NULL (scisql's fail-fast on the
    declination difference, then the squared chord distance)."""
    hav = _fill(_HAV, ra1=ra, dec1=dec, ra2=ra0, dec2=dec0)
    return f"(ABS({dec} - {dec0}) <= {r} AND 4 * {hav} <= 4 * POW(SIN(RADIANS({r}) / 2), 2))"


def box_test_sql(ra, dec, ra_min, dec_min, ra_max, dec_max) -> str:
    def red(x):
        return f"IF(MOD({x}, 360) < 0, IF(MOD({x}, 360) + 360 >= 360, 0, MOD({x}, 360) + 360), MOD({x}, 360))"
    p, lo, hi = red(ra), red(ra_min), red(ra_max)
    return (f"({dec} >= {dec_min} AND {dec} <= {dec_max} AND ({ra_max} - {ra_min} >= 360 OR "
            f"IF({lo} <= {hi}, {p} >= {lo} AND {p} <= {hi}, {p} >= {lo} OR {p} <= {hi})))")


def ellipse_test_sql(ra, dec, ra0, dec0, major, minor, pa) -> str:
    v = {k: _fill(t, ra=ra, dec=dec) for k, t in _V.items()}
    xne = _fill(_XNE, dec0=dec0, ra0=ra0, vx=v["x"], vy=v["y"], vz=v["z"])
    yne = _fill(_YNE, ra0=ra0, vx=v["x"], vy=v["y"])
    x = f"(SIN(RADIANS({pa})) * {yne} + COS(RADIANS({pa})) * {xne})"
    y = f"(COS(RADIANS({pa})) * {yne} - SIN(RADIANS({pa})) * {xne})"
    big = f"RADIANS({major} / 3600)"
    small = f"RADIANS({minor} / 3600)"
    c = {k: _fill(t, ra=ra0, dec=dec0) for k, t in _V.items()}
    front = f"({v['x']} * {c['x']} + {v['y']} * {c['y']} + {v['z']} * {c['z']} > 0)"
    return (f"({front} AND {x} * {x} * (1 / ({big} * {big})) + {y} * {y} * (1 / ({small} * {small}))"
            " <= 1)")


def _nulls(*names) -> str:
    return " OR ".join(f"{n} IS NULL" for n in names)


def _bad_dec(*names) -> str:
    return " OR ".join(f"ABS({n}) > 90" for n in names)


def angsep_full(ra1, dec1, ra2, dec2) -> str:
    return (f"IF({_nulls(ra1, dec1, ra2, dec2)} OR {_bad_dec(dec1, dec2)}, NULL, "
            f"{angsep_sql(ra1, dec1, ra2, dec2)})")


def circle_full(ra, dec, ra0, dec0, r) -> str:
    return (f"CASE WHEN {_nulls(ra, dec, ra0, dec0, r)} THEN 0 "
            f"WHEN {_bad_dec(dec, dec0)} OR {r} < 0 OR {r} > 180 THEN NULL "
            f"ELSE {circle_test_sql(ra, dec, ra0, dec0, r)} END")


def box_full(ra, dec, ra_min, dec_min, ra_max, dec_max) -> str:
    return (f"CASE WHEN {_nulls(ra, dec, ra_min, dec_min, ra_max, dec_max)} THEN 0 "
            f"WHEN {_bad_dec(dec, dec_min, dec_max)} THEN NULL "
            f"WHEN {ra_max} < {ra_min} AND ({ra_max} < 0 OR {ra_min} > 360) THEN NULL "
            f"ELSE {box_test_sql(ra, dec, ra_min, dec_min, ra_max, dec_max)} END")


def ellipse_full(ra, dec, ra0, dec0, major, minor, pa) -> str:
    return (f"CASE WHEN {_nulls(ra, dec, ra0, dec0, major, minor, pa)} THEN 0 "
            f"WHEN {_bad_dec(dec, dec0)} OR {minor} < 0 OR {minor} > {major} OR {major} > 36000 THEN NULL "
            f"ELSE {ellipse_test_sql(ra, dec, ra0, dec0, major, minor, pa)} END")


def flux_to_abmag(flux) -> str:
    return f"IF({flux} <= 0, NULL, -2.5 * LOG(10, {flux}) - 48.6)"


def flux_to_abmag_sigma(flux, sigma) -> str:
    return f"IF({flux} <= 0 OR {sigma} < 0, NULL, 1.085736204758129569 * {sigma} / {flux})"


def abmag_to_flux(mag) -> str:
    return f"POW(10, -0.4 * ({mag} + 48.6))"


# name -> (parameters, return type, SQL builder); the builder takes SQL for each parameter.
FUNCTIONS: dict[str, tuple[tuple[str, ...], str, Callable[..., str]]] = {
    "scisql_angSep": (("ra1", "dec1", "ra2", "dec2"), "DOUBLE", angsep_full),
    "scisql_s2PtInBox": (("ra", "decl", "raMin", "declMin", "raMax", "declMax"), "INT", box_full),
    "scisql_s2PtInCircle": (("ra", "decl", "raCen", "declCen", "radius"), "INT", circle_full),
    "scisql_s2PtInEllipse": (("ra", "decl", "raCen", "declCen", "semiMajor", "semiMinor", "posAngle"),
                             "INT", ellipse_full),
    "scisql_fluxToAbMag": (("flux",), "DOUBLE", flux_to_abmag),
    "scisql_fluxToAbMagSigma": (("flux", "fluxSigma"), "DOUBLE", flux_to_abmag_sigma),
    "scisql_abMagToFlux": (("mag",), "DOUBLE", abmag_to_flux),
}
ALL_NAMES = {n.lower(): n for n in list(FUNCTIONS) + ["scisql_s2PtInCPoly", "scisql_s2PtInCPolyStr"]}

_CPOLY_STR = """
CREATE FUNCTION `{db}`.`scisql_s2PtInCPolyStr`(ra DOUBLE, decl DOUBLE, verts TEXT)
RETURNS INT DETERMINISTIC NO SQL
BEGIN
  DECLARE n, i INT;
  DECLARE x, y, z, sx, sy, sz, e0x, e0y, e0z, d, flip DOUBLE DEFAULT 0;
  DECLARE ax, ay, az, bx, by_, bz, ra1, dec1 DOUBLE;
  IF ra IS NULL OR decl IS NULL OR verts IS NULL THEN RETURN 0; END IF;
  SET n = (LENGTH(verts) - LENGTH(REPLACE(verts, ',', '')) + 1) DIV 2;
  IF ABS(decl) > 90 OR n < 3 OR n > 20 THEN RETURN NULL; END IF;
  SET x = COS(RADIANS(decl)) * COS(RADIANS(ra)), y = COS(RADIANS(decl)) * SIN(RADIANS(ra)),
      z = SIN(RADIANS(decl));
  SET i = 0;
  WHILE i < n DO
    SET ra1 = CAST(SUBSTRING_INDEX(SUBSTRING_INDEX(verts, ',', 2 * i + 1), ',', -1) AS DOUBLE);
    SET dec1 = CAST(SUBSTRING_INDEX(SUBSTRING_INDEX(verts, ',', 2 * i + 2), ',', -1) AS DOUBLE);
    IF ABS(dec1) > 90 THEN RETURN NULL; END IF;
    SET sx = sx + COS(RADIANS(dec1)) * COS(RADIANS(ra1)), sy = sy + COS(RADIANS(dec1)) * SIN(RADIANS(ra1)),
        sz = sz + SIN(RADIANS(dec1));
    SET i = i + 1;
  END WHILE;
  SET i = 0;
  WHILE i < n DO
    SET ra1 = CAST(SUBSTRING_INDEX(SUBSTRING_INDEX(verts, ',', 2 * i + 1), ',', -1) AS DOUBLE);
    SET dec1 = CAST(SUBSTRING_INDEX(SUBSTRING_INDEX(verts, ',', 2 * i + 2), ',', -1) AS DOUBLE);
    SET ax = COS(RADIANS(dec1)) * COS(RADIANS(ra1)), ay = COS(RADIANS(dec1)) * SIN(RADIANS(ra1)),
        az = SIN(RADIANS(dec1));
    SET ra1 = CAST(SUBSTRING_INDEX(SUBSTRING_INDEX(verts, ',', 2 * ((i + 1) MOD n) + 1), ',', -1) AS DOUBLE);
    SET dec1 = CAST(SUBSTRING_INDEX(SUBSTRING_INDEX(verts, ',', 2 * ((i + 1) MOD n) + 2), ',', -1) AS DOUBLE);
    SET bx = COS(RADIANS(dec1)) * COS(RADIANS(ra1)), by_ = COS(RADIANS(dec1)) * SIN(RADIANS(ra1)),
        bz = SIN(RADIANS(dec1));
    SET e0x = ay * bz - az * by_, e0y = az * bx - ax * bz, e0z = ax * by_ - ay * bx;
    IF i = 0 THEN
      SET flip = IF(sx * e0x + sy * e0y + sz * e0z < 0, -1, 1);
    END IF;
    SET d = flip * (x * e0x + y * e0y + z * e0z);
    IF d < 0 THEN RETURN 0; END IF;
    SET i = i + 1;
  END WHILE;
  RETURN 1;
END
"""


def install_statements(db: str) -> list[str]:
    """DROP + CREATE FUNCTION statements for every scisql function in database `db`."""
    q = db.replace("`", "``")
    stmts = []
    for name, (params, returns, build) in FUNCTIONS.items():
        body = build(*params)
        plist = ", ".join(f"{p} DOUBLE" for p in params)
        stmts.append(f"DROP FUNCTION IF EXISTS `{q}`.`{name}`")
        stmts.append(f"CREATE FUNCTION `{q}`.`{name}`({plist}) RETURNS {returns} "
                     f"DETERMINISTIC NO SQL RETURN {body}")
    stmts.append(f"DROP FUNCTION IF EXISTS `{q}`.`scisql_s2PtInCPolyStr`")
    stmts.append(_CPOLY_STR.format(db=q).strip())
    return stmts


POINT_TESTS: dict[str, Callable[..., str]] = {"scisql_s2PtInBox": box_test_sql, "scisql_s2PtInCircle": circle_test_sql,
               "scisql_s2PtInEllipse": ellipse_test_sql}


def inline(name: str, args: list[str], *, where_true: bool = False) -> str:
    """Inline SQL for the scisql call `name(args)` (args: parenthesized SQL). With
    `where_true` (the call sits in a top-level `... = 1` of WHERE and its region arguments are
    valid literals), the shorter test that WHERE needs: NULL and 0 both reject the row."""
    if where_true and name in POINT_TESTS:
        # |dec| > 90 makes scisql answer NULL: the circle and ellipse formulas alone would take
        # such a row for a point beyond the pole (a child's own position is not checked at
        # load); a box's own declination range is within [-90, 90] already
        valid = "" if name == "scisql_s2PtInBox" else f" AND ABS({args[1]}) <= 90"
        return f"({args[0]} IS NOT NULL AND {args[1]} IS NOT NULL{valid} AND {POINT_TESTS[name](*args)})"
    return FUNCTIONS[name][2](*args)


def cpoly_edges(vertices):
    """Inward edge normals of scisql_s2PtInCPoly's polygon (orientation-free), as floats.
    Like scisql, no convexity check (the original answers such a query; its case02 1004.4)."""
    from qserv.regions import RegionError, edge_normals
    if any(abs(dec) > 90 for _, dec in vertices):
        raise RegionError("scisql_s2PtInCPoly: a vertex declination is outside [-90, 90]")
    return edge_normals(tuple(vertices))


def cpoly_inline(ra: str, dec: str, vertices, *, where_true: bool = False) -> str:
    v = {k: _fill(t, ra=ra, dec=dec) for k, t in _V.items()}
    terms = " AND ".join(f"{v['x']} * {float(e[0])!r} + {v['y']} * {float(e[1])!r} + {v['z']} * {float(e[2])!r} >= 0"
                         for e in cpoly_edges(vertices))
    if where_true:
        return f"({ra} IS NOT NULL AND {dec} IS NOT NULL AND ABS({dec}) <= 90 AND {terms})"
    return f"CASE WHEN {ra} IS NULL OR {dec} IS NULL THEN 0 WHEN ABS({dec}) > 90 THEN NULL ELSE ({terms}) END"
