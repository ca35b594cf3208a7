SELECT n, COUNT(*) FROM (SELECT objectId, COUNT(*) AS n FROM Source WHERE psfFlux < -1 GROUP BY objectId) AS t GROUP BY n
