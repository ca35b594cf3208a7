-- ordered
SELECT DISTINCT flags % 5 AS m FROM Object ORDER BY m DESC LIMIT 2
