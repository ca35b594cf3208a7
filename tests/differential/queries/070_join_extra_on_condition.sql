SELECT o.objectId, s.sourceId FROM Object o JOIN Source s ON o.objectId = s.objectId AND s.filterId = 2 WHERE o.decl < -14.5
