SELECT o.objectId, o.ra, s.ra FROM Object o JOIN Source s ON o.objectId = s.objectId WHERE o.objectId < 120
