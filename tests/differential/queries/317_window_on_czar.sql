-- ordered
SELECT objectId, gMag, RANK() OVER (ORDER BY gMag DESC, objectId) AS k FROM Object WHERE gMag IS NOT NULL ORDER BY k LIMIT 25
