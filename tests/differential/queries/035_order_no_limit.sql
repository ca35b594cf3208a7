-- ordered
SELECT sourceId, objectId, mjd FROM Source WHERE objectId < 300 ORDER BY objectId DESC, sourceId
