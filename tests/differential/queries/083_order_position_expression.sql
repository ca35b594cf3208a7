-- ordered
SELECT objectId, objectId * 2 FROM Object ORDER BY 2 DESC LIMIT 3
