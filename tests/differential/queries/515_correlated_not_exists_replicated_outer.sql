SELECT f.filterName FROM Filter f WHERE NOT EXISTS (SELECT 1 FROM Source s WHERE s.filterId = f.filterId AND s.psfFlux > 1500)
