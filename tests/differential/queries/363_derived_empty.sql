SELECT COUNT(*), MAX(n) FROM (SELECT objectId, COUNT(*) AS n FROM Source WHERE psfFlux < -5 GROUP BY objectId) AS t
