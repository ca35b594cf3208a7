SELECT objectId, o.gMag, s.psfFlux FROM Object o JOIN Source s USING (objectId) WHERE o.ra BETWEEN 1 AND 1.5
