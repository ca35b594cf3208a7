SELECT COUNT(*) AS n, MIN(flags) FROM Object GROUP BY flags > 7
