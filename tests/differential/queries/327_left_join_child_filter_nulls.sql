SELECT o.objectId, s.sourceId FROM Object o LEFT JOIN Source s ON o.objectId = s.objectId AND s.psfFlux > 1000 WHERE o.objectId < 500
