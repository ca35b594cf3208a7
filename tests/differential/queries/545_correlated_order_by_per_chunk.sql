-- ordered
SELECT o.objectId, o.gMag FROM Object o WHERE o.flags = 9 ORDER BY (SELECT COUNT(*) FROM Source s WHERE s.objectId = o.objectId) DESC, o.objectId LIMIT 10
