-- ordered
SELECT objectId, gMag FROM Object WHERE gMag IS NOT NULL ORDER BY gMag, objectId LIMIT 15
