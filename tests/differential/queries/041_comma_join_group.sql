SELECT o.objectId, COUNT(*) AS n FROM Object o, Source s WHERE o.objectId = s.objectId AND o.decl > 14 GROUP BY o.objectId
