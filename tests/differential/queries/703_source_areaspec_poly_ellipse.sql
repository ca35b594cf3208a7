SELECT s.sourceId FROM Source s WHERE qserv_areaspec_poly(359.5, -0.5, 0.5, -0.5, 0.5, 0.5, 359.5, 0.5) AND s.filterId < 3
-- oracle: SELECT s.sourceId FROM Source s WHERE scisql_s2PtInCPolyStr(s.ra, s.decl, '359.5,-0.5,0.5,-0.5,0.5,0.5,359.5,0.5') = 1 AND s.filterId < 3
