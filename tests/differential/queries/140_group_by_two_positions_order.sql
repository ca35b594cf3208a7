-- ordered
SELECT filterId, objectId % 2 AS par, COUNT(*) FROM Source GROUP BY 1, 2 ORDER BY 1 DESC, 2
