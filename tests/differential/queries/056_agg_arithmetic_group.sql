SELECT flags, SUM(gMag) / COUNT(gMag) AS manual, AVG(gMag) FROM Object GROUP BY flags
