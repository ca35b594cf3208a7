SELECT objectId, flags, AVG(gMag) OVER (PARTITION BY flags) AS a, LAG(objectId) OVER (PARTITION BY flags ORDER BY objectId) AS prev FROM Object WHERE objectId < 400
