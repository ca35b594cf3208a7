SELECT flags % 4 AS f4, COUNT(*) AS n FROM Object GROUP BY f4
