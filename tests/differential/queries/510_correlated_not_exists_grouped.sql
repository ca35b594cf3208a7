SELECT flags, COUNT(*), AVG(gMag) FROM Object o WHERE NOT EXISTS (SELECT 1 FROM Source s WHERE s.objectId = o.objectId AND s.filterId = 0) GROUP BY flags
