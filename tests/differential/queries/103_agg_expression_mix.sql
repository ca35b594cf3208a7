SELECT MIN(gMag) - MAX(rMag) AS d, COUNT(*) / 2 AS half, SUM(flags) * 1.5 FROM Object
