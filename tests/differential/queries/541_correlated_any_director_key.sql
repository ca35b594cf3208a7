SELECT o.objectId FROM Object o WHERE o.gMag * 2 < ANY (SELECT s.psfFlux FROM Source s WHERE s.objectId = o.objectId AND s.filterId = 2)
