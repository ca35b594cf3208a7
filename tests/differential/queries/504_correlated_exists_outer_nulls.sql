SELECT objectId, gMag FROM Object o WHERE EXISTS (SELECT 1 FROM Source s WHERE s.objectId = o.objectId AND s.psfFlux > o.gMag * 4) OR o.gMag IS NULL
