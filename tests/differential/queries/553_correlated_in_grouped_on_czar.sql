SELECT COUNT(*) FROM Object o WHERE o.flags < 4 AND o.objectId < 800 AND o.objectId IN (SELECT s.objectId FROM Source s WHERE s.filterId = o.flags GROUP BY s.objectId HAVING COUNT(*) > 1)
