SELECT filterId, COUNT(DISTINCT objectId), COUNT(DISTINCT Source.objectId, filterId) FROM Source GROUP BY filterId
