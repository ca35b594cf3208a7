SELECT scisql_s2PtInCPoly(ra, decl, 0, 0, 3, 0, 3, 3, 0, 3), COUNT(*) FROM Object WHERE decl BETWEEN -1 AND 4 GROUP BY 1
-- oracle: SELECT scisql_s2PtInCPolyStr(ra, decl, '0,0,3,0,3,3,0,3') AS `scisql_s2PtInCPoly(ra, decl, 0, 0, 3, 0, 3, 3, 0, 3)`, COUNT(*) FROM Object WHERE decl BETWEEN -1 AND 4 GROUP BY 1
