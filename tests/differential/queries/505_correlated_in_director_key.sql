SELECT o.objectId, o.flags FROM Object o WHERE o.objectId IN (SELECT s.objectId FROM Source s WHERE s.psfFlux > o.gMag * 8)
