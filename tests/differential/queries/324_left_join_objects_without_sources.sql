SELECT o.objectId, o.gMag FROM Object o LEFT JOIN Source s ON o.objectId = s.objectId WHERE s.sourceId IS NULL
