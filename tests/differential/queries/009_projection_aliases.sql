SELECT objectId, ra + 1 AS ra1, gMag - rMag AS gr, ROUND(decl, 2) AS d FROM Object WHERE objectId < 2000
