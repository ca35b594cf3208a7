-- ordered
SELECT extendedness, COUNT(*) AS n FROM Object GROUP BY extendedness HAVING n > 1000 ORDER BY n
