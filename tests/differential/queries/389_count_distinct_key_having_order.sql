-- ordered
SELECT filterId, COUNT(DISTINCT objectId) AS n FROM Source WHERE objectId < 100000 GROUP BY filterId HAVING COUNT(DISTINCT objectId) > 10 ORDER BY n DESC, filterId
