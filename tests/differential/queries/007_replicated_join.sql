SELECT f.filterName, COUNT(*) AS n, AVG(s.psfFlux) FROM Source s JOIN Filter f ON s.filterId = f.filterId GROUP BY f.filterName
