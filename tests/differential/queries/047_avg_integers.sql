SELECT flags % 3 AS m, AVG(flags), AVG(extendedness) FROM Object GROUP BY m
