SELECT f.filterName, f.photClam FROM Filter f WHERE EXISTS (SELECT 1 FROM Source s WHERE s.filterId = f.filterId AND s.psfFlux > 5)
