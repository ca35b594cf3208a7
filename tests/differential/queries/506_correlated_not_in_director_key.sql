SELECT COUNT(*), MIN(o.objectId) FROM Object o WHERE o.objectId NOT IN (SELECT s.objectId FROM Source s WHERE s.filterId = o.flags)
