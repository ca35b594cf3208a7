SELECT FLOOR(decl) AS band, COUNT(*), AVG(gMag) FROM Object GROUP BY FLOOR(decl)
