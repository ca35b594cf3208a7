SELECT COUNT(*), SUM(flags), AVG(gMag), MIN(ra), MAX(decl) FROM Object WHERE qserv_areaspec_box(300, 80, 301, 81)
-- oracle: SELECT COUNT(*), SUM(flags), AVG(gMag), MIN(ra), MAX(decl) FROM Object WHERE scisql_s2PtInBox(ra, decl, 300, 80, 301, 81) = 1
