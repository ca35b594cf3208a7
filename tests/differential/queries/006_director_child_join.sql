SELECT o.objectId, s.sourceId, s.psfFlux FROM Object o JOIN Source s ON o.objectId = s.objectId WHERE o.gMag < 19.5
