-- ordered
SELECT FLOOR(ra) AS r, COUNT(*) AS n FROM Object GROUP BY r ORDER BY r LIMIT 5
