SELECT flags, COUNT(*) AS n, SUM(uMag) FROM Object WHERE qserv_areaspec_box(300, 80, 301, 81) GROUP BY flags ORDER BY flags
-- oracle: SELECT flags, COUNT(*) AS n, SUM(uMag) FROM Object WHERE scisql_s2PtInBox(ra, decl, 300, 80, 301, 81) = 1 GROUP BY flags ORDER BY flags
