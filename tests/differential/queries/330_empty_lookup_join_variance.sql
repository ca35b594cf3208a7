SELECT COUNT(*), STDDEV(s.psfFlux), COUNT(DISTINCT s.filterId), GROUP_CONCAT(s.sourceId) FROM Object o JOIN Source s ON o.objectId = s.objectId WHERE o.objectId IN (900000001, 900000002)
