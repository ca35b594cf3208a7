-- ordered
SELECT objectId, gMag AS m FROM Object WHERE flags = 1 AND objectId < 400 UNION ALL SELECT objectId, psfFlux FROM Source WHERE objectId < 100 ORDER BY m DESC, objectId LIMIT 30
