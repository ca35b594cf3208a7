SELECT o.flags, COUNT(*) FROM Object o JOIN (SELECT DISTINCT objectId, filterId FROM Source WHERE psfFlux > 100) AS d ON d.objectId = o.objectId GROUP BY o.flags
