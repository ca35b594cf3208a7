-- ordered
SELECT o.objectId, d.* FROM Object o JOIN (SELECT * FROM Source WHERE psfFlux > 400) AS d ON d.objectId = o.objectId ORDER BY d.sourceId LIMIT 7
