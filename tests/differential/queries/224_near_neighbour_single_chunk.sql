SELECT COUNT(*) FROM Object v, Object o WHERE o.objectId = 4203 AND scisql_angSep(v.ra, v.decl, o.ra, o.decl) < 0.0166
-- oracle: SELECT STRAIGHT_JOIN COUNT(*) FROM Object o, Object v FORCE INDEX (decl) WHERE o.objectId = 4203 AND v.decl BETWEEN o.decl - 0.0166 AND o.decl + 0.0166 AND scisql_angSep(v.ra, v.decl, o.ra, o.decl) < 0.0166
