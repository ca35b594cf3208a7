SELECT scisql_s2PtInBox(ra, decl, 359, -1, 1, 1) AS inside, COUNT(*) FROM Object GROUP BY inside
