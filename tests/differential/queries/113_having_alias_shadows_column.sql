SELECT flags, COUNT(*) AS gMag FROM Object GROUP BY flags HAVING gMag > 1240
