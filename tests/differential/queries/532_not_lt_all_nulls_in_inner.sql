SELECT COUNT(*), SUM(flags) FROM Object WHERE NOT (gMag < ALL (SELECT gMag FROM Object WHERE objectId < 3000))
