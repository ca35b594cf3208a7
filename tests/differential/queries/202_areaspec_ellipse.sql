SELECT objectId FROM Object WHERE qserv_areaspec_ellipse(-5, 4, 5400, 2700, 35)
-- oracle: SELECT objectId FROM Object WHERE scisql_s2PtInEllipse(ra, decl, -5, 4, 5400, 2700, 35) = 1
