SELECT flags % 3 AS m, extendedness, COUNT(*), AVG(gMag), MIN(rMag) FROM Object GROUP BY m, extendedness WITH ROLLUP HAVING COUNT(*) > 500
