SELECT s.sourceId, o.gMag, RANK() OVER (PARTITION BY o.objectId ORDER BY s.psfFlux DESC, s.sourceId) AS k FROM Object o JOIN Source s ON o.objectId = s.objectId WHERE o.objectId < 300
