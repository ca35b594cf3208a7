-- ordered
SELECT filterId FROM Source GROUP BY filterId ORDER BY AVG(psfFlux) DESC LIMIT 2
