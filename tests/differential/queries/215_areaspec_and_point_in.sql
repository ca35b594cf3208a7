SELECT COUNT(*) FROM Object WHERE qserv_areaspec_circle(0, 0, 2) AND scisql_s2PtInBox(ra, decl, 359.5, -0.5, 0.5, 0.5) = 1
-- oracle: SELECT COUNT(*) FROM Object WHERE scisql_s2PtInCircle(ra, decl, 0, 0, 2) = 1 AND scisql_s2PtInBox(ra, decl, 359.5, -0.5, 0.5, 0.5) = 1
