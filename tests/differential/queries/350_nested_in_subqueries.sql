SELECT sourceId FROM Source WHERE objectId IN (SELECT objectId FROM Object WHERE flags = 1 AND objectId IN (SELECT objectId FROM Source WHERE filterId = 3 AND psfFlux > 300))
