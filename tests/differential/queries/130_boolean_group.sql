SELECT gMag > 22 AS faint, COUNT(*) FROM Object GROUP BY faint
