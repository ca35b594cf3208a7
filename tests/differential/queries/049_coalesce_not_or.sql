SELECT COUNT(*), SUM(COALESCE(gMag, 0)), AVG(IFNULL(uMag, 25)) FROM Object WHERE NOT (flags IN (0, 1)) OR decl < 0
