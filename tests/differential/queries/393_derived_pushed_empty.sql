SELECT COUNT(*), SUM(n), MAX(n) FROM (SELECT objectId, COUNT(*) AS n FROM Source WHERE psfFlux < -1 GROUP BY objectId) AS t
