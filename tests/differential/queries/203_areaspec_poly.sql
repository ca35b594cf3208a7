SELECT objectId, rMag FROM Object WHERE qserv_areaspec_poly(10, -3, 13, -2, 12, 2, 9, 1) AND rMag IS NOT NULL
-- oracle: SELECT objectId, rMag FROM Object WHERE scisql_s2PtInCPolyStr(ra, decl, '10,-3,13,-2,12,2,9,1') = 1 AND rMag IS NOT NULL
