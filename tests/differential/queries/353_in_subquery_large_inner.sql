SELECT COUNT(*), SUM(psfFlux) FROM Source WHERE objectId IN (SELECT objectId FROM Object WHERE gMag < 22)
