SELECT flags, COUNT(*) AS n, RANK() OVER (ORDER BY COUNT(*) DESC, flags) AS k, SUM(COUNT(*)) OVER () AS total FROM Object GROUP BY flags
