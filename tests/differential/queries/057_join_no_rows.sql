SELECT COUNT(*), SUM(s.psfFlux) FROM Object o JOIN Source s ON o.objectId = s.objectId WHERE o.objectId = 1
