SELECT objectId, gMag FROM Object WHERE objectId IN (SELECT objectId FROM Source WHERE psfFlux > 400)
