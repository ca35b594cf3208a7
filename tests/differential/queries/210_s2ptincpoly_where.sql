SELECT objectId FROM Object WHERE scisql_s2PtInCPoly(ra, decl, 350, 5, 352, 5, 352, 7, 350, 7) = 1
-- oracle: SELECT objectId FROM Object WHERE scisql_s2PtInCPolyStr(ra, decl, '350,5,352,5,352,7,350,7') = 1
