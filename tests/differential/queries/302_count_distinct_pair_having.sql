-- ordered
SELECT filterId, COUNT(DISTINCT objectId, filterId) AS n FROM Source GROUP BY filterId HAVING COUNT(DISTINCT objectId) > 10 ORDER BY n DESC, filterId
