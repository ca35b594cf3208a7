-- ordered
SELECT * FROM Object ORDER BY objectId LIMIT 20
