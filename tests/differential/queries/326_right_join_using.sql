SELECT o.objectId, s.sourceId, s.mjd FROM Source s RIGHT JOIN Object o USING (objectId) WHERE o.objectId < 300
