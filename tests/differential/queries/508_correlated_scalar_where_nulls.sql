SELECT objectId, flags FROM Object o WHERE (SELECT MIN(s.psfFlux) FROM Source s WHERE s.objectId = o.objectId AND s.filterId = 1) > 40 AND flags < 8
