SELECT COUNT(*) FROM Object WHERE objectId NOT IN (SELECT objectId FROM Source WHERE psfFlux < -5)
