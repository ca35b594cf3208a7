SELECT MAX(psfFlux) AS m, filterId FROM Source GROUP BY filterId
