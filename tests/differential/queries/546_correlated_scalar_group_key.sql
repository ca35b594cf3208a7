SELECT o.flags, (SELECT COUNT(*) FROM Source s WHERE s.objectId = o.objectId) AS n, COUNT(*) FROM Object o WHERE o.objectId < 3000 GROUP BY o.flags, n
