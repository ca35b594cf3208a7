SELECT COUNT(*), SUM(flags), MIN(ra), MAX(ra), AVG(gMag) FROM Object WHERE objectId < 0
