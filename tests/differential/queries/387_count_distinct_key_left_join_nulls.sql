SELECT o.flags, COUNT(DISTINCT s.objectId), COUNT(DISTINCT o.objectId), COUNT(*) FROM Object o LEFT JOIN Source s ON o.objectId = s.objectId AND s.psfFlux > 300 GROUP BY o.flags
