SELECT o.objectId FROM Object o WHERE EXISTS (SELECT 1 FROM Source s WHERE s.objectId = o.objectId AND s.psfFlux > 150)
