-- ordered
SELECT objectId, scisql_angSep(ra, decl, 0.5, 0.5) AS d FROM Object WHERE scisql_angSep(ra, decl, 0.5, 0.5) < 0.4 ORDER BY d, objectId
