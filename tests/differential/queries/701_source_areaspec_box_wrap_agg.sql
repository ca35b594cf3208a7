SELECT filterId, COUNT(*) AS n, MIN(mjd) AS first FROM Source WHERE qserv_areaspec_box(359.2, -1, 0.6, 0.5) GROUP BY filterId
-- oracle: SELECT filterId, COUNT(*) AS n, MIN(mjd) AS first FROM Source WHERE scisql_s2PtInBox(ra, decl, 359.2, -1, 0.6, 0.5) = 1 GROUP BY filterId
