SELECT o.objectId FROM Object o WHERE o.flags = 7 AND EXISTS (SELECT 1 FROM Filter f WHERE f.filterId IN (SELECT s.filterId FROM Source s WHERE s.objectId = o.objectId AND s.psfFlux > 60))
