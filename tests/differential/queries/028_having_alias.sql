SELECT flags, AVG(gMag) AS g FROM Object GROUP BY flags HAVING g < 21.7
