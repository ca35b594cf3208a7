SELECT COUNT(*) FROM (SELECT objectId FROM Object WHERE objectId IN (SELECT objectId FROM Source WHERE psfFlux > 300)) AS t
