SELECT COUNT(*) FROM Object WHERE scisql_s2PtInEllipse(ra, decl, 4, -4, 3600, 1800, 120) = 1 OR objectId < 200
