SELECT o.flags, COUNT(*) AS n, AVG(s.psfFlux) AS f FROM Object o JOIN Source s ON o.objectId = s.objectId GROUP BY o.flags HAVING AVG(s.psfFlux) > 0 AND n > 100
