SELECT objectId, gMag FROM Object WHERE scisql_s2PtInCircle(ra, decl, 359.7, -0.3, 0.8) = 1
