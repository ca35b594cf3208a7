SELECT f.filterName, t.n FROM Filter f JOIN (SELECT filterId, COUNT(*) AS n FROM Source WHERE psfFlux > 200 GROUP BY filterId) AS t USING (filterId)
