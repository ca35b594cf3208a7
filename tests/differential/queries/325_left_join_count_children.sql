-- ordered
SELECT o.objectId, COUNT(s.sourceId) AS n, AVG(s.psfFlux) FROM Object o LEFT JOIN Source s ON s.objectId = o.objectId AND s.filterId = 2 GROUP BY o.objectId ORDER BY n, o.objectId LIMIT 40
