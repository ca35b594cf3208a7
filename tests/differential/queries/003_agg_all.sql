SELECT COUNT(*), SUM(flags), MIN(ra), MAX(decl), AVG(gMag) FROM Object
