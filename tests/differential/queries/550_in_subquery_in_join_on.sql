SELECT o.objectId, s.sourceId FROM Object o LEFT JOIN Source s ON s.objectId = o.objectId AND s.filterId IN (SELECT filterId FROM Filter WHERE photClam > 8000) WHERE o.objectId < 500
