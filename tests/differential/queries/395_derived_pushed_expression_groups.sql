SELECT FLOOR(m / 10) AS b, COUNT(*), SUM(k) FROM (SELECT objectId, MAX(psfFlux) AS m, COUNT(psfFlux) AS k FROM Source GROUP BY objectId HAVING COUNT(*) < 6) AS t GROUP BY b
