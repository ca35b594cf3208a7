-- ordered
SELECT extendedness, c FROM (SELECT extendedness, COUNT(*) AS c FROM Object GROUP BY extendedness) AS t ORDER BY c DESC, extendedness LIMIT 2
