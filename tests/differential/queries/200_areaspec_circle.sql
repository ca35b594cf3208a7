SELECT objectId, ra, decl FROM Object WHERE qserv_areaspec_circle(2.5, 1.0, 1.2) AND flags < 8
-- oracle: SELECT objectId, ra, decl FROM Object WHERE scisql_s2PtInCircle(ra, decl, 2.5, 1.0, 1.2) = 1 AND flags < 8
