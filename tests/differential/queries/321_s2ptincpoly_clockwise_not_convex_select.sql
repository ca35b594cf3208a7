SELECT objectId, scisql_s2PtInCPoly(ra, decl, 0, 20, 20, 20, 10, 10, 20, 0, 0, 0) AS inside FROM Object WHERE objectId < 300
-- oracle: SELECT objectId, scisql_s2PtInCPolyStr(ra, decl, '0,20,20,20,10,10,20,0,0,0') AS inside FROM Object WHERE objectId < 300
