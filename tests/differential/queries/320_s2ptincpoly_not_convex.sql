SELECT objectId FROM Object WHERE scisql_s2PtInCPoly(ra, decl, 0, 0, 20, 0, 10, 10, 20, 20, 0, 20) = 1
-- oracle: SELECT objectId FROM Object WHERE scisql_s2PtInCPolyStr(ra, decl, '0,0,20,0,10,10,20,20,0,20') = 1
