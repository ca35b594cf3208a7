SELECT flags, MAX(scisql_angSep(ra, decl, 359, -1)), COUNT(*) FROM Object WHERE decl > 10 GROUP BY flags
