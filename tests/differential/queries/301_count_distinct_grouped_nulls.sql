SELECT extendedness, COUNT(DISTINCT flags), COUNT(DISTINCT uMag), SUM(DISTINCT flags), AVG(DISTINCT flags), COUNT(*) FROM Object GROUP BY extendedness
