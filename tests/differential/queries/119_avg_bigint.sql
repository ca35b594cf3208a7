SELECT AVG(objectId), SUM(objectId), MIN(extendedness), MAX(extendedness) FROM Object
