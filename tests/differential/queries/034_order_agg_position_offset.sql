-- ordered
SELECT filterId, AVG(psfFlux) FROM Source GROUP BY filterId ORDER BY 2 LIMIT 3 OFFSET 1
