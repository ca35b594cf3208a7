SELECT sourceId, objectId, ROW_NUMBER() OVER (PARTITION BY objectId ORDER BY mjd, sourceId) AS r, COUNT(*) OVER (PARTITION BY objectId) AS n FROM Source WHERE objectId < 500
