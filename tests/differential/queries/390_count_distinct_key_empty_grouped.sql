SELECT filterId, COUNT(DISTINCT objectId) FROM Source WHERE psfFlux < -1 GROUP BY filterId
