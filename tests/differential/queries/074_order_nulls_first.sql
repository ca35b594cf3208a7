-- ordered
SELECT objectId, gMag FROM Object ORDER BY gMag, objectId LIMIT 10
