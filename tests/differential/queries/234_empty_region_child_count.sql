SELECT COUNT(*) AS n, MIN(s.mjd) FROM Object o JOIN Source s ON o.objectId = s.objectId WHERE qserv_areaspec_circle(300, 80, 0.5)
-- oracle: SELECT COUNT(*) AS n, MIN(s.mjd) FROM Object o JOIN Source s ON o.objectId = s.objectId WHERE scisql_s2PtInCircle(o.ra, o.decl, 300, 80, 0.5) = 1
