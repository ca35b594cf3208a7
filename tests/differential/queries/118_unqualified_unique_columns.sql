SELECT psfFlux, gMag, s.ra - o.ra AS dra FROM Object o JOIN Source s ON o.objectId = s.objectId WHERE o.objectId < 400
