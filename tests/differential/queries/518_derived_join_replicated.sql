SELECT f.filterName, t.n, t.m FROM Filter f JOIN (SELECT filterId, COUNT(*) AS n, MAX(psfFlux) AS m FROM Source GROUP BY filterId) AS t ON t.filterId = f.filterId
