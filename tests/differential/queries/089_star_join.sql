SELECT * FROM Object o JOIN Source s ON o.objectId = s.objectId WHERE o.objectId < 60
