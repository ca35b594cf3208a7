SELECT COUNT(*), SUM(o.flags) FROM Object o WHERE NOT EXISTS (SELECT 1 FROM Source s WHERE s.objectId = o.objectId AND s.filterId = 3)
