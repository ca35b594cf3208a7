-- ordered
SELECT o.objectId, COUNT(s.sourceId) AS n FROM Object o JOIN Source s ON s.objectId = o.objectId GROUP BY o.objectId ORDER BY n DESC, o.objectId LIMIT 10
