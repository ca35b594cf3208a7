SELECT f.filterName, t.n FROM Filter f LEFT JOIN (SELECT filterId, COUNT(*) AS n FROM Source WHERE psfFlux < -5 GROUP BY filterId) AS t ON t.filterId = f.filterId
