SELECT COUNT(*), SUM(a.psfFlux - b.psfFlux) FROM Source a JOIN Source b ON a.objectId = b.objectId WHERE a.filterId = 0 AND b.filterId = 1
