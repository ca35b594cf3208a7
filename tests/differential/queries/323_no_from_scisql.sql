SELECT scisql_s2PtInCPoly(1.3, 3.2, 0, 0, 5, 0, 5, 5, 0, 5) AS a, scisql_angSep(0, 0, 1, 1)
-- oracle: SELECT scisql_s2PtInCPolyStr(1.3, 3.2, '0,0,5,0,5,5,0,5') AS a, scisql_angSep(0, 0, 1, 1)
