SELECT flags, COUNT(*) AS n, AVG(rMag) AS r FROM Object GROUP BY flags
